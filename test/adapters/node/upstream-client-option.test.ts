/**
 * createNodeTokenHandler's `upstreamClient` option: API calls go through undici's Pool on both
 * shells (the fast path and the Hono route) by default and with 'undici'; with 'node-http' through
 * node:http. Told apart
 * by what each client writes on the wire: node:http names the Host line `Host`, undici `host`.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeTokenHandler, startNodeServer, type NodeTokenHandler, type RunningServer } from '../../../src/adapters/node/server.js';
import { testConfig } from '../../helpers/config.js';

let upstream: http.Server;
let upstreamUrl: string;
/** The name of the Host line of each request the upstream received, with its body. */
const seen: { hostLine: string | undefined; body: string }[] = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ hostLine: req.rawHeaders.find((_, i) => i % 2 === 0 && req.rawHeaders[i]!.toLowerCase() === 'host'), body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`got ${body.length}`);
    });
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => {
  upstream.closeAllConnections();
  upstream.close();
});

async function through(handler: NodeTokenHandler) {
  const server: RunningServer = await startNodeServer(handler.listener, { port: 0, hostname: '127.0.0.1' });
  try {
    const start = seen.length;
    const headers = { 'token-handler-version': '1', origin: 'https://www.example.test', 'sec-fetch-site': 'same-origin' };
    // The fast path (over HTTP), then the Hono route (the app mounted by fetch).
    const fast = await fetch(`${server.url}/pub/x`, { method: 'POST', headers, body: 'hello' });
    const mounted = await handler.request('https://www.example.test/pub/y', { method: 'POST', headers, body: 'hello!' });
    expect([fast.status, await fast.text(), mounted.status, await mounted.text()]).toEqual([200, 'got 5', 200, 'got 6']);
    return seen.slice(start);
  } finally {
    await server.close();
    await handler.close();
  }
}

describe("createNodeTokenHandler's upstream client", () => {
  const config = () => testConfig({ TH_API_ROUTES: `/pub=${upstreamUrl}/api`, TH_API_ROUTE_OPTIONS: '/pub=public' });
  const quiet = { logSink: () => {} };

  it("is undici's Pool on both shells with upstreamClient 'undici'", async () => {
    expect(await through(createNodeTokenHandler(config(), quiet, { upstreamClient: 'undici' }))).toEqual([
      { hostLine: 'host', body: 'hello' },
      { hostLine: 'host', body: 'hello!' },
    ]);
  });

  it("is undici's Pool by default", async () => {
    expect(await through(createNodeTokenHandler(config(), quiet))).toEqual([
      { hostLine: 'host', body: 'hello' },
      { hostLine: 'host', body: 'hello!' },
    ]);
  });

  it("is node:http with upstreamClient 'node-http'", async () => {
    expect(await through(createNodeTokenHandler(config(), quiet, { upstreamClient: 'node-http' }))).toEqual([
      { hostLine: 'Host', body: 'hello' },
      { hostLine: 'Host', body: 'hello!' },
    ]);
  });
});
