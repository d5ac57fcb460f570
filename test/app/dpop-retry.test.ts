/**
 * The DPoP nonce retry of the proxy (RFC 9449 §9) over real HTTP, through the Node server's fast
 * path: which answers earn a second send (a `DPoP` challenge with `error=use_dpop_nonce` and a new,
 * valid `DPoP-Nonce`, in any letter case of the scheme), which do not, that there is never a third,
 * that a nonce from any answer is kept for the next proof, and that only a call without a body is
 * sent twice. The session comes from a real login (test/helpers/stack.ts, DPoP on).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../src/adapters/node/server.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly dpop: string | undefined;
  readonly body: string;
}

type Reply = (seen: Seen, index: number) => { status: number; headers?: Record<string, string> };

/**
 * TEST DOUBLE: an API that answers as each test scripts it (challenges the example API never
 * sends: a new nonce every time, odd spellings, no nonce at all). Records what reached it.
 */
function startScriptedApi(): Promise<{ url: string; seen: Seen[]; reply: { current: Reply }; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const reply = { current: (() => ({ status: 200 })) as Reply };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      const entry = { method: req.method!, path: req.url!, dpop: req.headers['dpop'] as string | undefined, body };
      seen.push(entry);
      const { status, headers } = reply.current(entry, seen.length - 1);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ status }));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        seen,
        reply,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

let stack: TestStack;
let api: Awaited<ReturnType<typeof startScriptedApi>>;
let cookies: Map<string, { value: string; path: string }>;
let server: RunningServer | undefined;

beforeAll(async () => {
  stack = await startTestStack({ dpop: {} });
  api = await startScriptedApi();
  const spa = new SpaClient(stack.app);
  expect((await spa.login()).status).toBe(200);
  cookies = spa.cookies;
});
afterAll(async () => {
  await server?.close();
  await api?.close();
  await stack?.close();
});

/** A browser on a fresh token handler (no nonce learned yet) behind the Node server, over HTTP. */
async function freshBrowser(): Promise<SpaClient> {
  await server?.close();
  const app = stack.makeApp({ TH_API_ROUTES: `/api=${stack.api.url}/api,/scripted=${api.url}` });
  server = await startNodeServer(app.listener, { port: 0, hostname: '127.0.0.1' });
  const base = server.url;
  const spa = new SpaClient({ request: (input, init) => fetch(input.replace(PUBLIC_ORIGIN, base), init) });
  for (const [name, cookie] of cookies) spa.cookies.set(name, cookie);
  return spa;
}

const challenge = (nonce: string, scheme = 'DPoP', error = '"use_dpop_nonce"') => ({
  status: 401,
  headers: { 'www-authenticate': `${scheme} error=${error}, error_description="nonce required"`, 'dpop-nonce': nonce },
});
const nonceOf = (seen: Seen) => decodeJwt(seen.dpop!)['nonce'];

beforeEach(() => {
  api.seen.length = 0;
});

describe('the proxy answers a nonce challenge once, and only a real one', () => {
  it('sends a GET once more with the new nonce, and uses the nonce from then on', async () => {
    const spa = await freshBrowser();
    api.reply.current = (seen) => (nonceOf(seen) === 'n-1' ? { status: 200 } : challenge('n-1'));
    expect((await spa.request('GET', '/scripted/orders?x=1')).status).toBe(200);
    expect(api.seen.map((s) => [s.path, nonceOf(s)])).toEqual([['/orders?x=1', undefined], ['/orders?x=1', 'n-1']]);
    expect(decodeJwt(api.seen[0]!.dpop!).jti).not.toBe(decodeJwt(api.seen[1]!.dpop!).jti);
    expect((await spa.request('GET', '/scripted/orders')).status).toBe(200);
    expect(api.seen.map(nonceOf)).toEqual([undefined, 'n-1', 'n-1']);
  });

  it('never sends a third time, however often the server asks', async () => {
    const spa = await freshBrowser();
    api.reply.current = (_seen, i) => challenge(`n-${i}`);
    const answer = await spa.request('GET', '/scripted/loop');
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toMatch(/use_dpop_nonce/);
    expect(api.seen.map(nonceOf)).toEqual([undefined, 'n-0']);
  });

  it('does not send again for the very nonce it just used', async () => {
    const spa = await freshBrowser();
    api.reply.current = () => ({ status: 200, headers: { 'dpop-nonce': 'same' } });
    await spa.request('GET', '/scripted/learn');
    api.reply.current = () => challenge('same');
    expect((await spa.request('GET', '/scripted/stale')).status).toBe(401);
    expect(api.seen.map(nonceOf)).toEqual([undefined, 'same']);
  });

  it('matches the scheme in any letter case, and an unquoted error', async () => {
    const spa = await freshBrowser();
    api.reply.current = (seen) => (nonceOf(seen) === 'n-x' ? { status: 200 } : challenge('n-x', 'dpop', 'use_dpop_nonce'));
    expect((await spa.request('GET', '/scripted/case')).status).toBe(200);
    expect(api.seen).toHaveLength(2);
  });

  it.each([
    ['a Bearer challenge', challenge('n-b', 'Bearer')],
    ['another DPoP error', challenge('n-e', 'DPoP', '"invalid_dpop_proof"')],
    ['no DPoP-Nonce', { status: 401, headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"' } }],
    ['a nonce with a space', challenge('two words')],
    ['a nonce with a quote', challenge('a"b')],
    ['a nonce of 513 characters', challenge('n'.repeat(513))],
    ['a 400, not a 401', { ...challenge('n-400'), status: 400 }],
  ])('does not send again on %s', async (_what, answer) => {
    const spa = await freshBrowser();
    api.reply.current = () => answer;
    expect((await spa.request('GET', '/scripted/no')).status).toBe(answer.status);
    expect(api.seen).toHaveLength(1);
  });

  it('keeps a nonce that comes with a successful answer for the next proof', async () => {
    const spa = await freshBrowser();
    api.reply.current = () => ({ status: 200, headers: { 'dpop-nonce': 'rotated-1' } });
    await spa.request('GET', '/scripted/a');
    await spa.request('GET', '/scripted/b');
    expect(api.seen.map(nonceOf)).toEqual([undefined, 'rotated-1']);
  });
});

describe('only a call without a body is sent twice (a streamed body is never buffered)', () => {
  it.each(['DELETE', 'POST'])('%s without a body (no Content-Length, no Transfer-Encoding): sent again', async (method) => {
    const spa = await freshBrowser();
    api.reply.current = (seen) => (nonceOf(seen) === 'n-1' ? { status: 204 } : challenge('n-1'));
    expect((await spa.request(method, '/scripted/item')).status).toBe(204);
    expect(api.seen.map((s) => [s.method, nonceOf(s)])).toEqual([[method, undefined], [method, 'n-1']]);
  });

  it('a declared empty body (Content-Length: 0): sent again', async () => {
    const spa = await freshBrowser();
    api.reply.current = (seen) => (nonceOf(seen) === 'n-1' ? { status: 200 } : challenge('n-1'));
    expect((await spa.request('POST', '/scripted/empty', { body: '' })).status).toBe(200);
    expect(api.seen).toHaveLength(2);
  });

  it.each(['POST', 'PUT', 'DELETE'])('%s with a body: sent once, the challenge passed on, the body intact', async (method) => {
    const spa = await freshBrowser();
    api.reply.current = () => challenge('n-1');
    const answer = await spa.request(method, '/scripted/item', { body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect(answer.status).toBe(401);
    expect(api.seen.map((s) => [s.method, s.body])).toEqual([[method, 'payload']]);
  });
});
