/**
 * Traces (contract §8) from the real server process: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at
 * an OTLP/HTTP receiver on loopback (this test's, a plain http server reading the JSON the
 * exporter posts), a login and an API call give a span per agent operation, per IdP call and per
 * proxied call, and the real provider and example API receive a `traceparent` naming those spans.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

let stack: TestStack;
let receiver: http.Server;
let receiverUrl: string;
const spans: OtlpSpan[] = [];
const posts: string[] = [];
const idpTraceparents: string[] = [];
const processes: ServerProcess[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  // The token endpoint's request, as the provider received it.
  stack.provider.provider.on('grant.success', (ctx: { get(name: string): string }) => idpTraceparents.push(ctx.get('traceparent')));
  receiver = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      posts.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const resource of payload.resourceSpans) for (const scope of resource.scopeSpans) spans.push(...scope.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const proc of processes) proc.stop();
  receiver?.close();
  await stack?.close();
});

const settings = () => Object.fromEntries(Object.entries(stack.env).filter((e): e is [string, string] => e[1] !== undefined));
const overHttp = (base: string) => ({
  request: (input: string, init: RequestInit) => fetch(input.replace(PUBLIC_ORIGIN, base), { ...init, redirect: 'manual' }),
});

describe('traces over OTLP', () => {
  it('exports spans for the agent operation, the IdP calls and the proxied call, and passes traceparent to the IdP and the upstream', async () => {
    const proc = startServerProcess(
      ['--import', 'tsx', 'src/adapters/node/main.ts'],
      { ...settings(), PORT: '0', HOST: '127.0.0.1', OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, OTEL_SERVICE_NAME: 'th-under-test' },
      ROOT,
    );
    processes.push(proc);
    const spa = new SpaClient(overHttp(await proc.url()));
    expect((await spa.login()).status).toBe(200);
    const before = stack.upstreamRequests.length;
    // A traceparent from the browser is replaced by the proxied call's own.
    const api = await spa.json('GET', '/api/whoami', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    expect(api.status).toBe(200);
    // SIGTERM flushes the batch before the process exits.
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);

    expect(posts.every((p) => p.startsWith('POST /v1/traces application/json'))).toBe(true);
    const named = (name: string) => spans.filter((s) => s.name === name);
    const [endLogin] = named('agent endLogin');
    expect(endLogin).toBeDefined();
    const [token] = named('idp POST token');
    expect(token).toMatchObject({ traceId: endLogin!.traceId, parentSpanId: endLogin!.spanId, kind: 3 });
    expect(idpTraceparents).toEqual([`00-${token!.traceId}-${token!.spanId}-01`]);

    const [upstream] = named('upstream GET');
    expect(upstream).toMatchObject({ kind: 3 });
    expect(upstream!.attributes).toContainEqual({ key: 'http.response.status_code', value: { intValue: 200 } });
    const arrived = stack.upstreamRequests.slice(before);
    expect(arrived.map((r) => r.headers['traceparent'])).toEqual([`00-${upstream!.traceId}-${upstream!.spanId}-01`]);
    // Nothing of a token or cookie in any span.
    const exported = JSON.stringify(spans);
    for (const { value } of spa.cookies.values()) expect(exported).not.toContain(value.slice(0, 40));
  });

  it('adds no span and no header without OTEL_EXPORTER_OTLP_ENDPOINT (the in-process app has no tracing)', async () => {
    const spa = new SpaClient(stack.app);
    expect((await spa.login()).status).toBe(200);
    const before = stack.upstreamRequests.length;
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expect(stack.upstreamRequests.slice(before).map((r) => r.headers['traceparent'])).toEqual([undefined]);
  });
});
