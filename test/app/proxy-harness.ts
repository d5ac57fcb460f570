/**
 * The shared harness of the proxy suites (test/app/proxy-*.test.ts), one per test file: the test
 * stack (the real provider and the example API), the hand-made upstreams for what the example API
 * will not do (redirects, Set-Cookie, answers that never come, compressed and 50 MB bodies), the
 * app in-process, and the same settings behind the real Node adapter on loopback. Importing it
 * registers the hooks that start and stop them, for the importing file.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect } from 'vitest';
import { createNodeTokenHandler, nodeFetchListener, startNodeServer, type NodeTokenHandler, type RunningServer } from '../../src/adapters/node/server.js';
import { parseConfig, type RawConfig } from '../../src/config/parse.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

export const OTHER_ORIGIN = 'https://app.example.test';
export const MB = 1024 * 1024;
export const BIG = 50 * MB;
export const CHUNK = 64 * 1024;

// --- the hand-made upstream ------------------------------------------------------------------

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A deferred promise, so a test and an upstream handler can wait for each other. */
export function signal<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

/** The n-th 64 KiB block of a big body: numbered, so a lost, doubled or reordered block changes the hash. */
export function block(n: number): Buffer {
  const b = Buffer.alloc(CHUNK, n % 251);
  b.writeUInt32BE(n, 0);
  return b;
}

/**
 * Writes `total` bytes of blocks, honouring backpressure; `afterFirst` runs once the first block is
 * out, `progress` gets the bytes handed over so far.
 */
export async function writeBlocks(out: NodeJS.WritableStream, total: number, afterFirst?: () => Promise<void>, progress?: (bytes: number) => void): Promise<string> {
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Long enough for 50 MB to cross loopback many times over, if nothing held it back. */
export const SETTLE_MS = 300;
/**
 * What kernel socket buffers and stream windows on both hops may hold (8-11 MB measured here); a
 * proxy without backpressure would let all 50 MB through.
 */
export const IN_FLIGHT_BOUND = 30 * MB;

/**
 * A hand-made upstream for what the example API will not do. Named as such: it is a stand-in for
 * a misbehaving or slow API, not for anything the token handler talks to in production.
 */
export async function startOddUpstream(evilUrl: string) {
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
          // Two lines of one field, and a name in mixed case.
          'x-repeated': ['one', 'two'],
          'X-Mixed-Case': 'Kept',
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
export async function startEvil() {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url!);
    res.end('stolen');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, close: () => server.close() };
}

export async function closedPort(): Promise<number> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

// --- the stack --------------------------------------------------------------------------------

export let stack: TestStack;
export let odd: Awaited<ReturnType<typeof startOddUpstream>>;
export let evil: Awaited<ReturnType<typeof startEvil>>;
export let env: RawConfig;
export let app: NodeTokenHandler;
export let node: RunningServer;
/** Paths of the requests the Node server handed to Hono rather than its fast path. */
export const honoRequests: string[] = [];
/** Moves the Node server's clock (its sessions expire by it). */
export let nodeClock: { offset: number };
export let spa: SpaClient;
/** The session cookie header a logged-in SPA sends on /api paths. */
export let session: string;

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
export const upstreamCount = () => stack.upstreamRequests.length + odd.requests.length + evil.hits.length;

/** A same-origin SPA request with the session, in-process; `headers` replace the defaults, `null` removes one. */
export async function call(method: string, path: string, headers: Record<string, string | null> = {}, body?: BodyInit) {
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

export function expectError(res: { status: number; json: Record<string, unknown>; headers: Headers }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.json['error_code']).toBe(code);
  expect(typeof res.json['detailed_error']).toBe('string');
  expect(res.headers.get('content-type')).toBe('application/json');
}

/** A request over real HTTP to the Node server; `rawHeaders` go out line by line, duplicates kept; `path` goes out verbatim. */
export function raw(method: string, path: string, rawHeaders: string[] = [], body?: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; text: string; bytes: Buffer }> {
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
