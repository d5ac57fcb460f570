/**
 * Every rule of contract §2, against recording upstreams: the example API (real JWT validation,
 * /api/echo reports what reached it) and, for what it will not do (redirects, Set-Cookie, answers
 * that never come, compressed and 50 MB bodies), a small hand-made node:http upstream below. Where
 * the transport matters (raw request targets, duplicate header lines, streaming) the token handler
 * runs behind the real Node adapter on loopback; elsewhere in-process with app.request. Each
 * negative test also checks that nothing went upstream.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeTokenHandler, nodeFetchListener, startNodeServer, type NodeTokenHandler, type RunningServer } from '../../src/adapters/node/server.js';
import { parseConfig, type RawConfig } from '../../src/config/parse.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

const OTHER_ORIGIN = 'https://app.example.test';
const MB = 1024 * 1024;
const BIG = 50 * MB;
const CHUNK = 64 * 1024;

// --- the hand-made upstream ------------------------------------------------------------------

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A deferred promise, so a test and an upstream handler can wait for each other. */
function signal<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

/** The n-th 64 KiB block of a big body: numbered, so a lost, doubled or reordered block changes the hash. */
function block(n: number): Buffer {
  const b = Buffer.alloc(CHUNK, n % 251);
  b.writeUInt32BE(n, 0);
  return b;
}

/**
 * Writes `total` bytes of blocks, honouring backpressure; `afterFirst` runs once the first block is
 * out, `progress` gets the bytes handed over so far.
 */
async function writeBlocks(out: NodeJS.WritableStream, total: number, afterFirst?: () => Promise<void>, progress?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for (let n = 0; n * CHUNK < total; n++) {
    const b = block(n);
    hash.update(b);
    const more = out.write(b);
    progress?.((n + 1) * CHUNK);
    if (!more) await once(out, 'drain');
    if (n === 0 && afterFirst) await afterFirst();
  }
  return hash.digest('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Long enough for 50 MB to cross loopback many times over, if nothing held it back. */
const SETTLE_MS = 300;
/**
 * What kernel socket buffers and stream windows on both hops may hold (8-11 MB measured here); a
 * proxy without backpressure would let all 50 MB through.
 */
const IN_FLIGHT_BOUND = 30 * MB;

/**
 * A hand-made upstream for what the example API will not do. Named as such: it is a stand-in for
 * a misbehaving or slow API, not for anything the token handler talks to in production.
 */
async function startOddUpstream(evilUrl: string) {
  const requests: Recorded[] = [];
  const hanging: ServerResponse[] = [];
  const state = {
    uploadFirstBytes: signal(),
    uploadResume: signal(),
    uploadReceived: 0,
    downloadClientGotFirst: signal(),
    downloadSent: 0,
    downloadClosed: signal(),
  };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    const path = req.url!.split('?')[0];
    switch (path) {
      case '/odd/cookies': {
        res.writeHead(201, {
          'set-cookie': [
            '__Host-th-at=planted; Path=/; Secure; HttpOnly',
            '__HOST-TH-AT=planted; Path=/',
            '__Host-th-at.0=planted; Path=/',
            '__host-th-at.1=planted; Path=/',
            '__Secure-th-rt=; Path=/oauth-agent; Max-Age=0',
            '__Secure-th-id.2=planted; Path=/oauth-agent',
            '__Host-th-login-1=planted; Path=/',
            '__Host-th-at; Path=/',
            'app=1; Path=/; SameSite=Lax',
            '__Host-th-atx=kept; Path=/',
          ],
          'clear-site-data': '"cookies"',
          'access-control-allow-origin': '*',
          'access-control-allow-credentials': 'true',
          connection: 'x-hop',
          'x-hop': 'hidden',
          'keep-alive': 'timeout=5',
          'x-upstream': 'kept',
          'content-type': 'text/plain',
        });
        res.end('created');
        return;
      }
      case '/odd/redirect':
        res.writeHead(302, { location: `${evilUrl}/steal` });
        res.end();
        return;
      case '/odd/unauthorized':
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' });
        res.end('{"error":"invalid_token"}');
        return;
      case '/odd/never':
        // Never answers; the proxy's timeout must.
        hanging.push(res);
        return;
      case '/odd/gzip':
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
        res.end(gzipSync('hello, compressed world'));
        return;
      case '/odd/early': {
        // Answers at once, reads the whole body, then keeps the response open past TH_UPSTREAM_TIMEOUT.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('started;');
        let size = 0;
        req.on('data', (c: Buffer) => (size += c.length));
        req.on('end', () => setTimeout(() => res.end(`received ${size};done`), 1200));
        return;
      }
      case '/odd/status-600':
        res.writeHead(600, { 'content-type': 'text/plain' });
        res.end('not http');
        return;
      case '/odd/odd-coding':
        res.writeHead(200, { 'content-encoding': 'x-custom', 'content-type': 'application/octet-stream' });
        res.end(Buffer.from([1, 2, 3, 4, 5]));
        return;
      case '/odd/upload': {
        const hash = createHash('sha256');
        let size = 0;
        req.on('data', (chunk: Buffer) => {
          if (size === 0) {
            // Stop reading until the test says so: what the client can still push is what the path between holds.
            req.pause();
            state.uploadFirstBytes.resolve();
            void state.uploadResume.promise.then(() => req.resume());
          }
          size += chunk.length;
          state.uploadReceived = size;
          hash.update(chunk);
        });
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ size, sha256: hash.digest('hex'), content_length: req.headers['content-length'] ?? null }));
        });
        return;
      }
      case '/odd/download': {
        const closed = state.downloadClosed;
        res.on('close', () => closed.resolve());
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        // The rest is sent only once the client holds the first block: a proxy that waited for the
        // whole body before answering would never deliver it, and the test times out.
        void writeBlocks(res, BIG, () => withTimeout(state.downloadClientGotFirst.promise, 5000, 'client got nothing'), (n) => (state.downloadSent = n)).then(
          () => res.end(),
          () => res.destroy(),
        );
        return;
      }
      default:
        res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    state,
    reset() {
      Object.assign(state, { uploadFirstBytes: signal(), uploadResume: signal(), uploadReceived: 0, downloadClientGotFirst: signal(), downloadSent: 0, downloadClosed: signal() });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A server that must never be called: where an upstream redirect points. */
async function startEvil() {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url!);
    res.end('stolen');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, close: () => server.close() };
}

async function closedPort(): Promise<number> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

// --- the stack --------------------------------------------------------------------------------

let stack: TestStack;
let odd: Awaited<ReturnType<typeof startOddUpstream>>;
let evil: Awaited<ReturnType<typeof startEvil>>;
let env: RawConfig;
let app: NodeTokenHandler;
let node: RunningServer;
/** Paths of the requests the Node server handed to Hono rather than its fast path. */
const honoRequests: string[] = [];
/** Moves the Node server's clock (its sessions expire by it). */
let nodeClock: { offset: number };
let spa: SpaClient;
/** The session cookie header a logged-in SPA sends on /api paths. */
let session: string;

beforeAll(async () => {
  stack = await startTestStack();
  evil = await startEvil();
  odd = await startOddUpstream(evil.url);
  const api = stack.api.url;
  env = {
    TH_API_ROUTES: [
      `/api=${api}/api`,
      `/api/orders=${api}/api/echo/orders`,
      `/public=${api}/api`,
      `/ro=${api}/api/echo`,
      `/odd=${odd.url}/odd`,
      `/closed=http://127.0.0.1:${await closedPort()}/x`,
    ].join(','),
    TH_API_ROUTE_OPTIONS: '/public=public, /ro=methods:GET|HEAD',
    TH_UPSTREAM_TIMEOUT: '1',
    TH_TRUSTED_ORIGINS: OTHER_ORIGIN,
  };
  app = stack.makeApp(env);
  spa = new SpaClient(app);
  expect((await spa.login()).status).toBe(200);
  session = spa.cookieHeader('/api/whoami');
  expect(session).toMatch(/^__Host-th-at=Fe26/);
  // The same settings (and cookie keys) behind the real Node adapter.
  const config = parseConfig({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: stack.provider.issuer,
    TH_CLIENT_ID: stack.config.clientId,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
    TH_LOG_LEVEL: 'debug',
    ...env,
  });
  nodeClock = { offset: 0 };
  const handler = createNodeTokenHandler(config, { logSink: (line) => stack.logs.push(line), now: () => Date.now() + nodeClock.offset });
  // The adapter's own listener, with a count of what reaches Hono, to show that API routes take
  // the fast path (adapters/node/fast-path.ts).
  const hono = nodeFetchListener((request, bindings) => {
    honoRequests.push(new URL(request.url).pathname);
    return handler.fetch(request, bindings);
  });
  const counted = (req: IncomingMessage, res: ServerResponse) => {
    if (!handler.fastPath(req, res)) hono(req, res);
  };
  node = await startNodeServer(counted, { port: 0, hostname: '127.0.0.1' });
});

afterAll(async () => {
  await node?.close();
  await odd?.close();
  evil?.close();
  await stack?.close();
});

/** How many requests reached any upstream so far. */
const upstreamCount = () => stack.upstreamRequests.length + odd.requests.length + evil.hits.length;

/** A same-origin SPA request with the session, in-process; `headers` replace the defaults, `null` removes one. */
async function call(method: string, path: string, headers: Record<string, string | null> = {}, body?: BodyInit) {
  const h = new Headers({ 'token-handler-version': '1', 'sec-fetch-site': 'same-origin', cookie: session });
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) h.set('origin', PUBLIC_ORIGIN);
  for (const [k, v] of Object.entries(headers)) {
    if (v === null) h.delete(k);
    else h.set(k, v);
  }
  const response = await app.request(PUBLIC_ORIGIN + path, { method, headers: h, ...(body !== undefined ? { body } : {}) });
  const text = method === 'HEAD' ? '' : await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: the test looks at text
  }
  return { status: response.status, headers: response.headers, text, json };
}

function expectError(res: { status: number; json: Record<string, unknown>; headers: Headers }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.json['error_code']).toBe(code);
  expect(typeof res.json['detailed_error']).toBe('string');
  expect(res.headers.get('content-type')).toBe('application/json');
}

/** A request over real HTTP to the Node server; `rawHeaders` go out line by line, duplicates kept; `path` goes out verbatim. */
function raw(method: string, path: string, rawHeaders: string[] = [], body?: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; text: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: node.port, method, path, headers: ['host', `127.0.0.1:${node.port}`, ...rawHeaders], agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, text: bytes.toString(), bytes });
      });
    });
    req.end(body);
  });
}

// --- routes and paths -------------------------------------------------------------------------

describe('routes', () => {
  it('matches on a / boundary, prefers the longest prefix, and maps onto the base path with the query kept', async () => {
    const orders = await call('GET', '/api/orders/7?a=1&b=%2F&a=2');
    expect(orders.status).toBe(200);
    expect(orders.json).toMatchObject({ path: '/api/echo/orders/7', search: '?a=1&b=%2F&a=2', authorization: 'valid' });
    const bare = await call('GET', '/api/orders');
    expect(bare.json['path']).toBe('/api/echo/orders');
    // /api/ordersx is not under /api/orders: it goes to the /api route, as /api/ordersx.
    const before = stack.upstreamRequests.length;
    const ordersx = await call('GET', '/api/ordersx/7');
    expect(stack.upstreamRequests.slice(before).map((r) => r.path)).toEqual(['/api/ordersx/7']);
    expect(ordersx.status).toBe(404); // the example API's own 404, passed back
    expect(ordersx.json).toEqual({ error: 'not_found' });
  });

  it.each(['/apix', '/apix/whoami', '/API/whoami', '/ap', '/other/api/whoami', '/%61pi/whoami'])('answers 404 for %s and forwards nothing', async (path) => {
    const before = upstreamCount();
    expectError(await call('GET', path), 404, 'not_found');
    expect(upstreamCount()).toBe(before);
  });
});

describe('paths that climb out of their route', () => {
  const forms = [
    '/api/../oauth-agent/session',
    '/api/echo/../../admin',
    '/api/./whoami',
    '/api/echo/..',
    '/x/../api/whoami',
    '/api/%2e%2e/admin',
    '/api/%2E%2e/admin',
    '/api/.%2e/admin',
    '/api/%2e/whoami',
    '/api/%252e%252e/admin',
    '/api/%25252e%25252e/admin',
    '/api/echo%2f..%2f..%2fadmin',
    '/api/echo%2F..%2Fadmin',
    '/api/echo%252f..%252fadmin',
    '/api/echo%5c..%5cadmin',
    '/api/echo/..;/admin',
    '/api/echo/%2e%2e;x/admin',
    '/api/%c0%ae%c0%ae/admin',
    '/api/%ef%bc%8e%ef%bc%8e/admin',
    '/api/echo%ef%bc%8f..%ef%bc%8fadmin',
    '/api/echo%00',
    '/api/%zz',
    '/api/..#x',
    '/api/echo/..%23',
  ];

  it.each(forms)('refuses %s with 400 invalid_request over HTTP, forwarding nothing', async (path) => {
    const before = upstreamCount();
    const res = await raw('GET', path, ['cookie', session]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'invalid_request' });
    expect(res.headers['content-type']).toBe('application/json');
    expect(upstreamCount()).toBe(before);
  });

  it('refuses a raw backslash (which URL parsing reads as a slash) with the JSON error', async () => {
    const before = upstreamCount();
    const res = await raw('GET', '/api/echo\\..\\admin', ['cookie', session]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'invalid_request' });
    expect(upstreamCount()).toBe(before);
  });

  it.each(['http://evil.test/api/whoami', 'http://127.0.0.1/api/whoami', 'https://www.example.test/api/whoami', '*'])(
    'refuses the absolute-form or odd target %s before routing',
    async (target) => {
      const before = upstreamCount();
      const res = await raw('GET', target, ['cookie', session]);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ error_code: 'invalid_request' });
      expect(upstreamCount()).toBe(before);
    },
  );

  it('still forwards ordinary paths over HTTP as sent (dots inside names, encoded spaces)', async () => {
    const res = await raw('GET', '/api/echo/a..b/.well-known/caf%C3%A9%20x?q=%2e%2e', ['cookie', session]);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ path: '/api/echo/a..b/.well-known/caf%C3%A9%20x', search: '?q=%2e%2e', authorization: 'valid' });
  });
});

// --- request headers --------------------------------------------------------------------------

describe('request headers', () => {
  it('replaces Authorization, drops hop-by-hop, spoofed and method-override headers, sets X-Forwarded-* itself', async () => {
    const before = stack.upstreamRequests.length;
    const res = await raw('POST', '/api/echo/h?x=1', [
      'cookie', `app=1; ${session}; theme=dark`,
      'authorization', 'Bearer attacker',
      'connection', 'keep-alive, x-secret',
      'x-secret', 'must-not-pass',
      'keep-alive', 'timeout=5',
      'te', 'trailers',
      'proxy-authorization', 'Basic eDp5',
      'proxy-connection', 'keep-alive',
      'token-handler-version', '1',
      'origin', PUBLIC_ORIGIN,
      'sec-fetch-site', 'same-origin',
      'forwarded', 'for=6.6.6.6;host=evil.test;proto=http',
      'x-forwarded-for', '6.6.6.6',
      'x-forwarded-host', 'evil.test',
      'x-forwarded-proto', 'http',
      'x-forwarded-port', '1',
      'x-real-ip', '6.6.6.6',
      'cf-connecting-ip', '6.6.6.6',
      'x-http-method-override', 'DELETE',
      'referer', `${PUBLIC_ORIGIN}/?code=abc&state=def`,
      'content-type', 'text/plain',
      'content-length', '5',
      'accept', 'application/json',
      'x-custom', 'kept',
    ], Buffer.from('hello'));
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.text) as { authorization: string; body_size: number; method: string };
    expect(echoed).toMatchObject({ authorization: 'valid', body_size: 5, method: 'POST' });
    const [arrived] = stack.upstreamRequests.slice(before);
    const h = arrived!.headers;
    expect(h['authorization']).toMatch(/^Bearer ey/);
    expect(h['cookie']).toBe('app=1; theme=dark');
    expect(h['host']).toBe(new URL(stack.api.url).host);
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-host']).toBe('www.example.test');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['content-type']).toBe('text/plain');
    expect(h['content-length']).toBe('5');
    expect(h['accept']).toBe('application/json');
    expect(h['x-custom']).toBe('kept');
    for (const gone of [
      'x-secret', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'token-handler-version', 'forwarded',
      'x-forwarded-port', 'x-real-ip', 'cf-connecting-ip', 'x-http-method-override', 'referer',
    ]) {
      expect(h[gone], gone).toBeUndefined();
    }
    // `Connection` upstream is the fetch client's own, never the client's list.
    expect(h['connection'] ?? '').not.toContain('x-secret');
  });

  it("removes our cookies in any letter case and as chunks, keeps the others, and drops an emptied Cookie", async () => {
    const before = stack.upstreamRequests.length;
    const planted = '__HOST-TH-AT=x; __Host-th-at.0=x; __host-th-at.1=x; __Secure-th-rt=x; __SECURE-TH-ID.3=x; __Host-th-login-0=x; __Host-th-login-2.0=x';
    const res = await call('GET', '/api/echo', { cookie: `a=1; ${planted}; ${session}; __Host-th-atx=y; b=2` });
    // Our name both whole and as a chunk is ambiguous (a planted cookie): refused, not guessed.
    expectError(res, 401, 'unauthorized_request');
    const kept = await call('GET', '/api/echo', { cookie: `a=1; ${session}; __host-th-at.1=x; __Secure-th-rt.0=x; __Host-th-atx=y; b=2` });
    expect(kept.status).toBe(200);
    expect(stack.upstreamRequests.at(-1)!.headers['cookie']).toBe('a=1; __Host-th-atx=y; b=2');
    const only = await call('GET', '/api/echo', { cookie: `${session}; __Secure-th-id=x` });
    expect(only.status).toBe(200);
    expect(stack.upstreamRequests.at(-1)!.headers['cookie']).toBeUndefined();
    expect(stack.upstreamRequests.length - before).toBe(2);
  });

  it('keeps our cookies out of a second Cookie header line', async () => {
    const before = stack.upstreamRequests.length;
    // Node joins Cookie lines with '; '; the third line is what a runtime joining with ', ' makes of two.
    const res = await raw('GET', '/api/echo', ['cookie', 'a=1; b=2', 'cookie', session, 'cookie', 'c=3, __Host-th-login-1=x']);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ authorization: 'valid' });
    const h = stack.upstreamRequests.slice(before)[0]!.headers;
    expect(h['cookie']).toBe('a=1; b=2; c=3');
  });

  it('passes an upload that announces Expect: 100-continue (curl does for large bodies)', async () => {
    const res = await raw('PUT', '/api/echo', ['cookie', session, 'token-handler-version', '1', 'origin', PUBLIC_ORIGIN, 'expect', '100-continue', 'content-length', '3'], Buffer.from('abc'));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ method: 'PUT', body_size: 3 });
    expect(stack.upstreamRequests.at(-1)!.headers['expect']).toBeUndefined();
  });
});

// --- guards -----------------------------------------------------------------------------------

describe('guards before anything goes upstream', () => {
  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('%s passes only the CSRF checks of §4', async (method) => {
    const before = upstreamCount();
    expectError(await call(method, '/api/echo', { 'token-handler-version': null }), 401, 'unauthorized_request');
    expectError(await call(method, '/api/echo', { 'token-handler-version': '2' }), 401, 'unauthorized_request');
    expectError(await call(method, '/api/echo', { origin: 'https://evil.test' }), 401, 'unauthorized_request');
    expectError(await call(method, '/api/echo', { 'sec-fetch-site': 'cross-site' }), 401, 'unauthorized_request');
    // Public routes are no exception: CSRF protects the API, not just the session.
    expectError(await call(method, '/public/echo', { 'token-handler-version': null, cookie: null }), 401, 'unauthorized_request');
    expect(upstreamCount()).toBe(before);
    const ok = await call(method, '/api/echo', {}, 'x');
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ method, authorization: 'valid' });
    // Same-site is enough when another origin of the site is trusted, and that origin may call.
    expect((await call(method, '/api/echo', { 'sec-fetch-site': 'same-site', origin: OTHER_ORIGIN })).status).toBe(200);
  });

  it('lets GET and HEAD through without the CSRF header', async () => {
    expect((await call('GET', '/api/echo', { 'token-handler-version': null, 'sec-fetch-site': null })).status).toBe(200);
    const head = await call('HEAD', '/api/echo', { 'token-handler-version': null });
    expect(head.status).toBe(200);
    expect(stack.upstreamRequests.at(-1)!.method).toBe('HEAD');
  });

  it('answers a preflight itself, for trusted origins only, with the route methods', async () => {
    const before = upstreamCount();
    const ok = await call('OPTIONS', '/api/echo', { origin: OTHER_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'token-handler-version, content-type', cookie: null });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(OTHER_ORIGIN);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE');
    expect(ok.headers.get('access-control-allow-headers')).toContain('token-handler-version');
    const ro = await call('OPTIONS', '/ro/x', { origin: OTHER_ORIGIN, 'access-control-request-method': 'GET' });
    expect(ro.headers.get('access-control-allow-methods')).toBe('GET, HEAD');
    expectError(await call('OPTIONS', '/api/echo', { origin: 'https://evil.test', 'access-control-request-method': 'POST' }), 401, 'unauthorized_request');
    expect(upstreamCount()).toBe(before);
  });

  it('sends CORS headers on proxied answers and errors to another trusted origin only', async () => {
    const ok = await call('GET', '/api/echo', { origin: OTHER_ORIGIN, 'sec-fetch-site': 'same-site' });
    expect(ok.headers.get('access-control-allow-origin')).toBe(OTHER_ORIGIN);
    const err = await call('GET', '/api/echo', { origin: OTHER_ORIGIN, cookie: null });
    expectError(err, 401, 'unauthorized_request');
    expect(err.headers.get('access-control-allow-origin')).toBe(OTHER_ORIGIN);
    expect((await call('GET', '/api/echo')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a missing, tampered or foreign session with 401 unauthorized_request', async () => {
    const before = upstreamCount();
    expectError(await call('GET', '/api/whoami', { cookie: null }), 401, 'unauthorized_request');
    expectError(await call('GET', '/api/whoami', { cookie: session.slice(0, -4) + 'AAAA' }), 401, 'unauthorized_request');
    expectError(await call('GET', '/api/whoami', { cookie: 'other=1', authorization: 'Bearer attacker' }), 401, 'unauthorized_request');
    expect(upstreamCount()).toBe(before);
  });

  it('answers 401 token_expired, without an upstream call, once the access token has expired', async () => {
    const clock = { now: Date.now() };
    const clocked = stack.makeApp(env, { now: () => clock.now });
    const client = new SpaClient(clocked);
    await client.login();
    expect((await client.json('GET', '/api/whoami')).status).toBe(200);
    const before = upstreamCount();
    clock.now += 301_000; // the provider's access tokens live 300 s; the session lives on
    const res = await client.json('GET', '/api/whoami');
    expect(res.status).toBe(401);
    expect(res.body['error_code']).toBe('token_expired');
    expect(upstreamCount()).toBe(before);
  });

  it("passes an upstream 401 back as it is, so the SPA refreshes and retries", async () => {
    const res = await call('GET', '/odd/unauthorized');
    expect(res.status).toBe(401);
    expect(res.text).toBe('{"error":"invalid_token"}');
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('forwards public routes without a session and without Authorization, even when the client sends both', async () => {
    const anonymous = await call('GET', '/public/echo', { cookie: null });
    expect(anonymous.status).toBe(200);
    expect(anonymous.json['authorization']).toBe('absent');
    const before = stack.upstreamRequests.length;
    const withBoth = await call('GET', '/public/echo', { authorization: 'Bearer attacker', cookie: `${session}; a=1` });
    expect(withBoth.json['authorization']).toBe('absent');
    expect(stack.upstreamRequests.slice(before)[0]!.headers['cookie']).toBe('a=1');
    // The real API's own 401 for a call without a token comes back untouched.
    const whoami = await call('GET', '/public/whoami', { cookie: null });
    expect(whoami.status).toBe(401);
    expect(whoami.json).toEqual({ error: 'invalid_token' });
    expect(whoami.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('allows only the configured methods on a route (405 with Allow), forwarding nothing else', async () => {
    expect((await call('GET', '/ro/x')).status).toBe(200);
    const before = upstreamCount();
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const res = await call(method, '/ro/x', {}, 'x');
      expectError(res, 405, 'method_not_allowed');
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    }
    // Methods outside the default set are refused on every route.
    expectError(await call('PROPFIND', '/api/echo'), 405, 'method_not_allowed');
    expect(upstreamCount()).toBe(before);
  });
});

// --- responses --------------------------------------------------------------------------------

describe('upstream responses', () => {
  it("keeps status, body and headers, minus hop-by-hop, CORS, Clear-Site-Data and any Set-Cookie for our cookies", async () => {
    const res = await call('GET', '/odd/cookies');
    expect(res.status).toBe(201);
    expect(res.text).toBe('created');
    expect(res.headers.get('x-upstream')).toBe('kept');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.getSetCookie()).toEqual(['app=1; Path=/; SameSite=Lax', '__Host-th-atx=kept; Path=/']);
    for (const gone of ['clear-site-data', 'access-control-allow-origin', 'access-control-allow-credentials', 'x-hop', 'keep-alive']) {
      expect(res.headers.get(gone), gone).toBeNull();
    }
  });

  it('passes a redirect back without following it', async () => {
    const res = await call('GET', '/odd/redirect');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${evil.url}/steal`);
    expect(evil.hits).toEqual([]);
  });

  it('gives 502 upstream_unavailable when the upstream does not answer in time', async () => {
    const logsBefore = stack.logs.length;
    expectError(await call('GET', '/odd/never'), 502, 'upstream_unavailable');
    expect(stack.logs.slice(logsBefore).some((l) => l.includes('"reason":"upstream_timeout"'))).toBe(true);
  });

  it('gives 502 upstream_unavailable when the upstream refuses the connection', async () => {
    const logsBefore = stack.logs.length;
    const res = await call('GET', '/closed/x');
    expectError(res, 502, 'upstream_unavailable');
    expect(res.text).not.toContain('127.0.0.1');
    expect(stack.logs.slice(logsBefore).some((l) => l.includes('"reason":"upstream_unreachable"'))).toBe(true);
  });

  it('passes a compressed body through untouched with node:http, on the fast path and through the Hono route', async () => {
    // The Node adapter's upstream client never decodes: bytes and Content-Encoding go back as sent.
    const gz = await raw('GET', '/odd/gzip', ['cookie', session, 'accept-encoding', 'gzip, deflate, br, zstd']);
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.bytes).toString()).toBe('hello, compressed world');
    expect(odd.requests.at(-1)!.headers['accept-encoding']).toBe('gzip, deflate, br, zstd');
    // The same client behind the Hono route (the app mounted in-process by a host): the same bytes.
    const mounted = await app.request(PUBLIC_ORIGIN + '/odd/gzip', { headers: { cookie: session, 'accept-encoding': 'gzip, deflate, br, zstd' } });
    expect(mounted.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await mounted.arrayBuffer())).toString()).toBe('hello, compressed world');
    expect(odd.requests.at(-1)!.headers['accept-encoding']).toBe('gzip, deflate, br, zstd');
    const other = await call('GET', '/odd/odd-coding');
    expect(other.headers.get('content-encoding')).toBe('x-custom');
  });

  it('gives 502 upstream_unavailable, never a 500, for a status the Fetch API cannot carry', async () => {
    expectError(await call('GET', '/odd/status-600'), 502, 'upstream_unavailable');
    const res = await raw('GET', '/odd/status-600', ['cookie', session]);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'upstream_unavailable' });
  });

  it("the Node adapter's upstream client: redirects passed back, refusals and timeouts as 502", async () => {
    const redirect = await raw('GET', '/odd/redirect', ['cookie', session]);
    expect(redirect.status).toBe(302);
    expect(redirect.headers['location']).toBe(`${evil.url}/steal`);
    expect(evil.hits).toEqual([]);
    const refused = await raw('GET', '/closed/x', ['cookie', session]);
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.text)).toMatchObject({ error_code: 'upstream_unavailable' });
    const logsBefore = stack.logs.length;
    const slow = await raw('GET', '/odd/never', ['cookie', session]);
    expect(slow.status).toBe(502);
    expect(JSON.parse(slow.text)).toMatchObject({ error_code: 'upstream_unavailable' });
    expect(stack.logs.slice(logsBefore).some((l) => l.includes('"reason":"upstream_timeout"'))).toBe(true);
  });
});

// --- streaming --------------------------------------------------------------------------------

describe('streaming through the Node adapter', () => {
  it.each(['DELETE', 'POST'])('frames a %s body of unknown length, so it is never read as the next request on the connection', async (method) => {
    // node:http sends a DELETE's body unframed unless told to chunk it.
    const sent = await raw(method, '/api/echo', ['cookie', session, 'token-handler-version', '1', 'origin', PUBLIC_ORIGIN, 'transfer-encoding', 'chunked'], Buffer.from('x'));
    expect(sent.status).toBe(200);
    expect(JSON.parse(sent.text)).toMatchObject({ method, body_size: 1 });
    // Mounted by fetch (the Hono route), where the body has no length at all.
    const mounted = await call(method, '/api/echo', {}, 'x');
    expect(mounted.status).toBe(200);
    expect(mounted.json).toMatchObject({ method, body_size: 1 });
    // The upstream connection is still in step: the next call on it is read correctly.
    const next = await call('GET', '/api/echo');
    expect(next.json).toMatchObject({ method: 'GET', body_size: 0 });
  });

  // Flat memory, shown without sampling the heap: the proxy never holds a whole body (the far end
  // has the first bytes before the near end has sent the rest), and it honours backpressure (while
  // one end stops reading, the other can push only a bounded amount, not all 50 MB).

  it('streams a 50 MB upload without buffering it, and with backpressure', async () => {
    odd.reset();
    const req = http.request({
      host: '127.0.0.1',
      port: node.port,
      method: 'PUT',
      path: '/odd/upload',
      headers: { cookie: session, 'token-handler-version': '1', origin: PUBLIC_ORIGIN, 'content-type': 'application/octet-stream', 'content-length': String(BIG) },
      agent: false,
    });
    const response = once(req, 'response') as Promise<[IncomingMessage]>;
    let written = 0;
    const sending = writeBlocks(
      req,
      BIG,
      () => withTimeout(odd.state.uploadFirstBytes.promise, 5000, 'the upstream saw nothing while the client was still sending: the proxy buffers uploads'),
      (n) => (written = n),
    ).then((sha256) => (req.end(), sha256));
    // `sending` rejects (with the reason) if the upstream never sees the first block.
    await Promise.race([odd.state.uploadFirstBytes.promise, sending]);
    // Held for longer than TH_UPSTREAM_TIMEOUT (1 s): an upload still going is not an upstream that fails to answer.
    await sleep(1200);
    // The upstream has stopped reading: the client is held back, not allowed to pour 50 MB into the proxy.
    expect(written - odd.state.uploadReceived).toBeLessThan(IN_FLIGHT_BOUND);
    odd.state.uploadResume.resolve();
    const sent = await sending;
    const [res] = await response;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ size: BIG, sha256: sent, content_length: String(BIG) });
  });

  it('streams a 50 MB download without buffering it, and with backpressure', async () => {
    odd.reset();
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: node.port, path: '/odd/download', headers: { cookie: session }, agent: false }, resolve).on('error', reject),
    );
    const hash = createHash('sha256');
    let size = 0;
    const first = (await once(res, 'data')) as [Buffer];
    // The upstream sends more only once the client holds this; meanwhile the client stops reading.
    res.pause();
    size += first[0].length;
    hash.update(first[0]);
    odd.state.downloadClientGotFirst.resolve();
    await sleep(SETTLE_MS);
    expect(odd.state.downloadSent - size).toBeLessThan(IN_FLIGHT_BOUND);
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    const expected = createHash('sha256');
    for (let n = 0; n * CHUNK < BIG; n++) expected.update(block(n));
    expect({ status: res.statusCode, size, sha256: hash.digest('hex') }).toEqual({ status: 200, size: BIG, sha256: expected.digest('hex') });
  });
});

describe('an upstream that answers before the upload ends', () => {
  it('keeps streaming its answer past the timeout: the timeout is for an upstream that never answers', async () => {
    const req = http.request({
      host: '127.0.0.1',
      port: node.port,
      method: 'POST',
      path: '/odd/early',
      headers: { cookie: session, 'token-handler-version': '1', origin: PUBLIC_ORIGIN, 'content-type': 'text/plain' },
      agent: false,
    });
    req.write('first part, ');
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    req.end('second part');
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    expect(res.statusCode).toBe(200);
    expect(Buffer.concat(chunks).toString()).toBe('started;received 23;done');
  });
});

describe('a client that goes away', () => {
  it('mid-download: the upstream call is closed, not left streaming into nowhere', async () => {
    odd.reset();
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: node.port, path: '/odd/download', headers: { cookie: session }, agent: false }, resolve).on('error', reject),
    );
    await once(res, 'data');
    odd.state.downloadClientGotFirst.resolve();
    res.destroy();
    await withTimeout(odd.state.downloadClosed.promise, 5000, 'the upstream response is still open after the client left');
    expect(odd.state.downloadSent).toBeLessThan(BIG);
  });
});

describe('what the browser and the log see', () => {
  it('never shows the access token or a cookie value in a proxy answer or log line', async () => {
    const tokens = new Set(stack.upstreamRequests.map((r) => r.headers['authorization']).filter((a): a is string => !!a && a.startsWith('Bearer ey')).map((a) => a.slice(7)));
    expect(tokens.size).toBeGreaterThan(0);
    const logs = stack.logs.join('\n');
    const sealed = session.split('=').slice(1).join('=');
    expect(logs.includes(sealed.slice(0, 40))).toBe(false);
    for (const token of tokens) {
      expect(logs.includes(token)).toBe(false);
      expect(logs.includes(token.slice(-20))).toBe(false);
    }
    const answers = spa.responses.map((r) => JSON.stringify(r)).join('\n');
    for (const token of tokens) expect(answers.includes(token)).toBe(false);
  });
});

describe('the Node server and large sessions', () => {
  it('lets a 20 KB Cookie header reach the app (no bare 431 from Node) and past 32 KB answers JSON 431', async () => {
    const big = `${session}; other=${'b'.repeat(20_000)}`;
    // The agent answers itself (an API upstream would apply its own header limit).
    const ok = await fetch(`${node.url}/oauth-agent/session`, { headers: { cookie: big } });
    expect(ok.status).toBe(200);
    const tooBig = await fetch(`${node.url}/oauth-agent/session`, { headers: { cookie: `${session}; other=${'b'.repeat(40_000)}` } });
    expect(tooBig.status).toBe(431);
    expect(tooBig.headers.get('content-type')).toBe('application/json');
    expect(((await tooBig.json()) as Record<string, unknown>)['error_code']).toBe('request_header_too_large');
  });
});

describe("the Node server's fast path for API routes: the same rules over real HTTP", () => {
  /** A same-origin SPA call's headers (read once `session` is set), with one replaced or (value null) removed. */
  const browser = (name: string, value: string | null) => {
    const h = ['cookie', session, 'token-handler-version', '1', 'sec-fetch-site', 'same-origin', 'origin', PUBLIC_ORIGIN];
    const i = h.indexOf(name);
    if (value === null) h.splice(i, 2);
    else h[i + 1] = value;
    return h;
  };
  const errorOf = (res: { status: number; headers: IncomingHttpHeaders; text: string }) => {
    expect(res.headers['content-type']).toBe('application/json');
    return (JSON.parse(res.text) as { error_code: string }).error_code;
  };

  it('answers API routes without Hono, and leaves the agent routes and unknown paths to it', async () => {
    const before = honoRequests.length;
    expect((await raw('GET', '/api/echo', ['cookie', session])).status).toBe(200);
    expect((await raw('GET', '/api/echo/../../x', ['cookie', session])).status).toBe(400);
    expect((await raw('POST', '/api/echo', browser('token-handler-version', null), Buffer.from('x'))).status).toBe(401);
    expect(honoRequests.length).toBe(before);
    expect((await raw('GET', '/oauth-agent/session', ['cookie', session])).status).toBe(200);
    expect((await raw('GET', '/nowhere')).status).toBe(404);
    expect(honoRequests.slice(before)).toEqual(['/oauth-agent/session', '/nowhere']);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('%s: the CSRF checks of §4, then forwarded', async (method) => {
    const before = upstreamCount();
    for (const headers of [
      browser('token-handler-version', null),
      browser('token-handler-version', '2'),
      browser('origin', 'https://evil.test'),
      browser('sec-fetch-site', 'cross-site'),
    ]) {
      // Node's client sends a DELETE body unframed unless told its length.
      const res = await raw(method, '/api/echo', [...headers, 'content-length', '1'], Buffer.from('x'));
      expect(res.status).toBe(401);
      expect(errorOf(res)).toBe('unauthorized_request');
    }
    expect(upstreamCount()).toBe(before);
    const ok = await raw(method, '/api/echo', [...browser('origin', PUBLIC_ORIGIN), 'content-length', '1'], Buffer.from('x'));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ method, authorization: 'valid', body_size: 1 });
  });

  it('preflight, CORS on answers and errors, 405 with Allow, and a bad session: as on the Hono route', async () => {
    const before = upstreamCount();
    const pre = await raw('OPTIONS', '/ro/x', ['origin', OTHER_ORIGIN, 'access-control-request-method', 'GET']);
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(OTHER_ORIGIN);
    expect(pre.headers['access-control-allow-methods']).toBe('GET, HEAD');
    expect(errorOf(await raw('OPTIONS', '/api/echo', ['origin', 'https://evil.test', 'access-control-request-method', 'POST']))).toBe('unauthorized_request');
    const put = await raw('PUT', '/ro/x', browser('origin', PUBLIC_ORIGIN), Buffer.from('x'));
    expect(put.status).toBe(405);
    expect(put.headers['allow']).toBe('GET, HEAD');
    const tampered = await raw('GET', '/api/whoami', ['cookie', session.slice(0, -4) + 'AAAA', 'origin', OTHER_ORIGIN]);
    expect(tampered.status).toBe(401);
    expect(errorOf(tampered)).toBe('unauthorized_request');
    expect(tampered.headers['access-control-allow-origin']).toBe(OTHER_ORIGIN);
    expect(tampered.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(upstreamCount()).toBe(before);
    const ok = await raw('GET', '/api/echo', ['cookie', session, 'origin', OTHER_ORIGIN]);
    expect(ok.headers['access-control-allow-origin']).toBe(OTHER_ORIGIN);
    expect((await raw('GET', '/api/echo', ['cookie', session])).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers 401 token_expired once the access token has expired, without an upstream call', async () => {
    const before = upstreamCount();
    nodeClock.offset = 301_000; // the provider's access tokens live 300 s
    try {
      const res = await raw('GET', '/api/whoami', ['cookie', session]);
      expect(res.status).toBe(401);
      expect(errorOf(res)).toBe('token_expired');
    } finally {
      nodeClock.offset = 0;
    }
    expect(upstreamCount()).toBe(before);
  });

  it('filters the upstream response headers (Set-Cookie for our cookies, CORS, Clear-Site-Data, hop-by-hop)', async () => {
    const res = await raw('GET', '/odd/cookies', ['cookie', session]);
    expect(res.status).toBe(201);
    expect(res.text).toBe('created');
    expect(res.headers['x-upstream']).toBe('kept');
    expect(res.headers['set-cookie']).toEqual(['app=1; Path=/; SameSite=Lax', '__Host-th-atx=kept; Path=/']);
    for (const gone of ['clear-site-data', 'access-control-allow-origin', 'access-control-allow-credentials', 'x-hop']) {
      expect(res.headers[gone], gone).toBeUndefined();
    }
  });

  it('writes the same log line, and a JSON 431 for oversized headers', async () => {
    const logsBefore = stack.logs.length;
    const res = await raw('GET', '/api/echo/x?code=secret-code', ['cookie', session]);
    const line = stack.logs.slice(logsBefore).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'request');
    expect(line).toMatchObject({ method: 'GET', path: '/api/echo/x', status: 200, request_id: res.headers['x-request-id'] });
    expect(JSON.stringify(line)).not.toContain('secret-code');
    const before = upstreamCount();
    const big = await raw('GET', '/public/echo', ['cookie', `a=${'b'.repeat(40_000)}`]);
    expect(big.status).toBe(431);
    expect(errorOf(big)).toBe('request_header_too_large');
    expect(upstreamCount()).toBe(before);
  });
});
