/**
 * Prometheus metrics on METRICS_PORT (contract §8), scraped from the real server process
 * (src/adapters/node/main.ts) after a login and an API call against the real provider and the
 * example API; and the port rules of the setting.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServerSettings } from '../../src/adapters/node/server-settings.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let stack: TestStack;
const processes: ServerProcess[] = [];
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  for (const proc of processes) proc.stop();
  await stack?.close();
});

const settings = () => Object.fromEntries(Object.entries(stack.env).filter((e): e is [string, string] => e[1] !== undefined));
const overHttp = (base: string) => ({
  request: (input: string, init: RequestInit) => fetch(input.replace(PUBLIC_ORIGIN, base), { ...init, redirect: 'manual' }),
});

function start(extra: Record<string, string>): ServerProcess {
  const proc = startServerProcess(['--import', 'tsx', 'src/adapters/node/main.ts'], { ...settings(), PORT: '0', HOST: '127.0.0.1', ...extra }, ROOT);
  processes.push(proc);
  return proc;
}

/** The value of one sample line (`name{labels} value`), or undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (wanted.every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('metrics on METRICS_PORT', () => {
  it('counts requests by route and status, logins by outcome, and times the upstream and the IdP, on its own port only', async () => {
    const proc = start({ METRICS_PORT: '0' });
    const base = await proc.url();
    const metricsUrl = String((await proc.waitFor((l) => l.msg === 'metrics_listening'))['url']);
    expect(new URL(metricsUrl).port).not.toBe(new URL(base).port);
    expect(new URL(metricsUrl).hostname).toBe('127.0.0.1');

    const spa = new SpaClient(overHttp(base));
    expect((await spa.login()).status).toBe(200);
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expect((await spa.json('POST', '/oauth-agent/login/end', { body: { state: 'unknown', code: 'x' } })).status).toBe(400);

    const scrape = await fetch(metricsUrl);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toContain('text/plain');
    const text = await scrape.text();
    expect(sample(text, 'token_handler_requests_total', { kind: 'agent', route: '/login/end', status: '200' })).toBe(1);
    expect(sample(text, 'token_handler_requests_total', { kind: 'agent', route: '/login/end', status: '400' })).toBe(1);
    expect(sample(text, 'token_handler_requests_total', { kind: 'api', route: '/api', status: '200' })).toBe(1);
    expect(sample(text, 'token_handler_auth_events_total', { event: 'login', outcome: 'success' })).toBe(1);
    expect(sample(text, 'token_handler_auth_events_total', { event: 'login', outcome: 'failure' })).toBe(1);
    expect(sample(text, 'token_handler_upstream_duration_milliseconds_count', { upstream: new URL(stack.api.url).host, outcome: 'answered' })).toBe(1);
    expect(sample(text, 'token_handler_idp_duration_milliseconds_count', { endpoint: 'token', outcome: 'answered' })).toBe(1);
    expect(sample(text, 'token_handler_idp_duration_milliseconds_count', { endpoint: 'openid-configuration', outcome: 'answered' })).toBeGreaterThanOrEqual(1);
    // Process metrics come along; nothing of a token or cookie does.
    expect(text).toContain('token_handler_process_cpu_seconds_total');
    for (const { value } of spa.cookies.values()) expect(text).not.toContain(value.slice(0, 40));

    // The public port does not serve them.
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(metricsUrl.replace('/metrics', '/other'))).status).toBe(404);
  });

  it('starts no metrics listener without METRICS_PORT', async () => {
    const proc = start({});
    await proc.url();
    await proc.waitFor((l) => l.msg === 'listening');
    const spa = new SpaClient(overHttp(await proc.url()));
    expect((await spa.json('GET', '/oauth-agent/session')).status).toBe(200);
    expect(proc.lines.map((l) => l.msg)).not.toContain('metrics_listening');
  });
});

describe('METRICS_PORT', () => {
  it('is refused when it equals PORT, or is no port', () => {
    expect(readServerSettings({ PORT: '8080', METRICS_PORT: '8080' }).problems).toEqual(['METRICS_PORT must differ from PORT (both 8080): metrics are never served on the public port']);
    expect(readServerSettings({ METRICS_PORT: '8080' }).problems).toHaveLength(1);
    expect(readServerSettings({ METRICS_PORT: 'nine' }).problems).toEqual(['METRICS_PORT must be a port number (0 to 65535), got "nine"']);
    expect(readServerSettings({ PORT: '8080', METRICS_PORT: '9464' })).toEqual({ settings: expect.objectContaining({ metricsPort: 9464 }), problems: [] });
    expect(readServerSettings({}).settings.metricsPort).toBeUndefined();
  });

  it('stops the process at start-up when it equals PORT', async () => {
    const proc = start({ PORT: '18093', METRICS_PORT: '18093' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('METRICS_PORT must differ from PORT');
  });
});
