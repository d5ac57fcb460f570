/**
 * The outside review's header and path findings (issue 11, findings 2 to 6 and 8) against the Node
 * server over real HTTP, where the bytes matter (a raw 0xA0 byte in a cookie name, UTF-8 in a
 * header, a vertical tab), and against the Hono route in-process: the same rules on both. The
 * upstream is the example API (its echo route reports what reached it) and, for answers it will not
 * give (nameless Set-Cookie, HTML without nosniff), a hand-made node:http FAKE upstream.
 */
import { once } from 'node:events';
import http, { type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeTokenHandler, startNodeServer, type NodeTokenHandler, type RunningServer } from '../../src/adapters/node/server.js';
import { parseConfig, type RawConfig } from '../../src/config/parse.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

/** A string's UTF-8 bytes read as Latin-1: how node:http sends them, and how Node's parser reads them. */
const utf8Bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/** A FAKE upstream for what the example API will not answer: hostile Set-Cookie lines and HTML. */
async function startHostileUpstream() {
  const server = http.createServer((req, res) => {
    const path = req.url!.split('?')[0];
    if (path === '/odd/nameless') {
      res.setHeader('set-cookie', [
        '=__Host-th-at=planted; Path=/',
        '  =__Host-th-at=planted; Path=/',
        '=__Host-th-at.0=planted; Path=/',
        '=__Secure-th-rt=planted; Path=/oauth-agent',
        utf8Bytes('=\u2000__Host-th-at=planted'),
        '=\u00a0__Host-th-at=planted',
        '__Host-th-at; Path=/',
        '=theme=dark; Path=/',
        'app=1; Path=/',
      ]);
      res.end('ok');
    } else if (path === '/odd/html' || path === '/docs/html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<script>alert(document.domain)</script>');
    } else if (path === '/odd/sniff-value') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-content-type-options': 'sniff' });
      res.end('<script>alert(1)</script>');
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

let stack: TestStack;
let hostile: Awaited<ReturnType<typeof startHostileUpstream>>;
let app: NodeTokenHandler;
let node: RunningServer;
/** The genuine sealed access-token value of a logged-in session. */
let at: string;

beforeAll(async () => {
  stack = await startTestStack();
  hostile = await startHostileUpstream();
  const env: RawConfig = {
    TH_API_ROUTES: `/api=${stack.api.url}/api,/odd=${hostile.url}/odd,/docs=${hostile.url}/docs`,
    TH_API_ROUTE_OPTIONS: '/docs=allow-sniffing',
  };
  app = stack.makeApp(env);
  const spa = new SpaClient(app);
  expect((await spa.login()).status).toBe(200);
  at = spa.cookies.get('__Host-th-at')!.value;
  const config = parseConfig({ ...stack.env, ...env });
  node = await startNodeServer(createNodeTokenHandler(config, { logSink: (line) => stack.logs.push(line) }).listener, { port: 0, hostname: '127.0.0.1' });
});

afterAll(async () => {
  await node?.close();
  await hostile?.close();
  await stack?.close();
});

/** Over real HTTP to the Node server; header values are sent as Latin-1 bytes, one byte a character. */
function raw(method: string, path: string, headers: string[] = []): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: node.port, method, path, headers: ['host', `127.0.0.1:${node.port}`, ...headers], agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.end();
  });
}

/** Bytes node:http's client will not send (a vertical tab): straight onto a socket; the status code of the answer. */
async function rawBytes(request: Buffer): Promise<number> {
  const socket = net.connect(node.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(request);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))?.[1]);
}

/** In-process through the Hono route (the one every platform runs). */
async function inProcess(method: string, path: string, headers: Record<string, string>) {
  const response = await app.request(PUBLIC_ORIGIN + path, { method, headers: { 'token-handler-version': '1', ...headers } });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const errorCode = (text: string) => (JSON.parse(text) as { error_code: string }).error_code;
const upstreamCount = () => stack.upstreamRequests.length;

describe('cookie names with Unicode whitespace (finding 2)', () => {
  // As Node reads the bytes: a raw 0xA0 is U+00A0, which .trim() used to strip; UTF-8 arrives as Latin-1 characters.
  const padded: [string, string][] = [
    ['a raw 0xA0 byte', '\u00a0'],
    ['U+2000 in UTF-8', utf8Bytes('\u2000')],
    ['U+FEFF in UTF-8', utf8Bytes('\ufeff')],
    ['U+3000 in UTF-8', utf8Bytes('\u3000')],
    ['U+200B in UTF-8', utf8Bytes('\u200b')],
    ['U+00A0 in UTF-8', utf8Bytes('\u00a0')],
  ];

  it.each(padded)('does not read %s before __Host-th-at as the session (fast path and Hono route)', async (_label, pad) => {
    const before = upstreamCount();
    for (const cookie of [`${pad}__Host-th-at=${at}`, `__Host-th-at${pad}=${at}`]) {
      const res = await raw('GET', '/api/echo', ['cookie', cookie]);
      expect(res.status).toBe(401);
      expect(errorCode(res.text)).toBe('unauthorized_request');
      const hono = await inProcess('GET', '/api/echo', { cookie });
      expect(hono.status).toBe(401);
    }
    expect(upstreamCount()).toBe(before);
  });

  it('does not read a case variant of our name', async () => {
    const before = upstreamCount();
    for (const name of ['__HOST-th-at', '__host-th-at', '__Host-TH-AT']) {
      expect((await raw('GET', '/api/echo', ['cookie', `${name}=${at}`])).status).toBe(401);
    }
    expect(upstreamCount()).toBe(before);
  });

  it('answers a vertical tab in a cookie name without reading it (Node refuses the request itself)', async () => {
    const before = upstreamCount();
    const status = await rawBytes(Buffer.from(`GET /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \u000b__Host-th-at=${at}\r\nConnection: close\r\n\r\n`, 'latin1'));
    expect(status).toBe(400);
    expect(upstreamCount()).toBe(before);
  });

  it('uses the genuine cookie beside look-alikes, and sends none of them upstream', async () => {
    const before = upstreamCount();
    const cookie = `a=1; \u00a0__Host-th-at=planted; ${utf8Bytes('\ufeff')}__Host-th-at=planted; __Host-th-at=${at}; __HOST-th-at.0=planted; b=2`;
    const res = await raw('GET', '/api/echo', ['cookie', cookie]);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ authorization: 'valid' });
    expect(stack.upstreamRequests.slice(before).map((r) => r.headers['cookie'])).toEqual(['a=1; b=2']);
  });

  it('keeps the look-alikes of other cookies byte for byte (never normalised)', async () => {
    const before = upstreamCount();
    const res = await raw('GET', '/api/echo', ['cookie', `\u00a0theme=dark; __Host-th-at=${at}`]);
    expect(res.status).toBe(200);
    expect(stack.upstreamRequests.slice(before)[0]!.headers['cookie']).toBe('\u00a0theme=dark');
  });
});

describe('a header value outside Latin-1 (finding 3, as Node sees it)', () => {
  it('breaks nothing: the agent reads the session, and the API gets the bytes the browser sent', async () => {
    const lang = utf8Bytes('lang=日本');
    const agent = await raw('GET', '/oauth-agent/session', ['cookie', `${lang}; __Host-th-at=${at}`, 'user-agent', utf8Bytes('Browser 😀')]);
    expect(agent.status).toBe(200);
    const before = upstreamCount();
    const res = await raw('GET', '/api/echo', ['cookie', `${lang}; __Host-th-at=${at}`, 'user-agent', utf8Bytes('Browser 😀')]);
    expect(res.status).toBe(200);
    const arrived = stack.upstreamRequests.slice(before)[0]!.headers;
    expect(Buffer.from(arrived['cookie']!, 'latin1').toString('utf8')).toBe('lang=日本');
    expect(Buffer.from(arrived['user-agent']!, 'latin1').toString('utf8')).toBe('Browser 😀');
  });
});

describe('a nameless Set-Cookie from the upstream (finding 4)', () => {
  it('never reaches the browser when it would come back as ours, on the fast path and the Hono route', async () => {
    const res = await raw('GET', '/odd/nameless', ['cookie', `__Host-th-at=${at}`]);
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['=theme=dark; Path=/', 'app=1; Path=/']);
    const hono = await inProcess('GET', '/odd/nameless', { cookie: `__Host-th-at=${at}` });
    expect(hono.headers.getSetCookie()).toEqual(['=theme=dark; Path=/', 'app=1; Path=/']);
  });
});

describe('URL, host and method override headers (finding 5)', () => {
  it('never reach the upstream with the bearer token', async () => {
    const overrides = ['x-original-url', 'x-rewrite-url', 'x-override-url', 'x-original-uri', 'x-forwarded-uri', 'x-forwarded-prefix', 'x-host', 'x-original-host', 'x-envoy-original-path', 'x-middleware-subrequest', 'x-original-method'];
    const before = upstreamCount();
    const res = await raw('POST', '/api/echo', ['cookie', `__Host-th-at=${at}`, 'origin', PUBLIC_ORIGIN, 'token-handler-version', '1', 'content-length', '0', ...overrides.flatMap((name) => [name, '/admin'])]);
    expect(res.status).toBe(200);
    const hono = await inProcess('GET', '/api/echo', { cookie: `__Host-th-at=${at}`, ...Object.fromEntries(overrides.map((name) => [name, '/admin'])) });
    expect(hono.status).toBe(200);
    const arrived = stack.upstreamRequests.slice(before);
    expect(arrived).toHaveLength(2);
    for (const request of arrived) {
      expect(request.headers['authorization']).toMatch(/^Bearer /);
      for (const name of overrides) expect(request.headers[name], name).toBeUndefined();
    }
  });
});

describe('Windows/IIS dot segments (finding 6)', () => {
  it.each(['/api/echo/a/..%20/x', '/api/echo/a/..%2e%20/x', '/api/echo/a/...', '/api/echo/a/..%20./x', '/api/echo/a/...%20/x', '/api/echo/..::$INDEX_ALLOCATION/x', '/api/echo/..%c2%a0/x'])(
    'refuses %s with 400 invalid_request, forwarding nothing',
    async (path) => {
      const before = upstreamCount();
      const res = await raw('GET', path, ['cookie', `__Host-th-at=${at}`]);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toBe('application/json');
      expect(errorCode(res.text)).toBe('invalid_request');
      expect((await inProcess('GET', path, { cookie: `__Host-th-at=${at}` })).status).toBe(400);
      expect(upstreamCount()).toBe(before);
    },
  );

  it('still forwards names with dots and spaces in them', async () => {
    const res = await raw('GET', '/api/echo/a..b/v1.2/b%20./x', ['cookie', `__Host-th-at=${at}`]);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ path: '/api/echo/a..b/v1.2/b%20./x' });
  });
});

describe('nosniff on proxied answers (finding 8)', () => {
  it('is added where the upstream did not send it, on the fast path and the Hono route', async () => {
    for (const path of ['/odd/html', '/api/echo']) {
      expect((await raw('GET', path, ['cookie', `__Host-th-at=${at}`])).headers['x-content-type-options'], path).toBe('nosniff');
      expect((await inProcess('GET', path, { cookie: `__Host-th-at=${at}` })).headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('replaces a value browsers would not honour', async () => {
    expect((await raw('GET', '/odd/sniff-value', ['cookie', `__Host-th-at=${at}`])).headers['x-content-type-options']).toBe('nosniff');
    expect((await inProcess('GET', '/odd/sniff-value', { cookie: `__Host-th-at=${at}` })).headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('is left out on a route with allow-sniffing', async () => {
    const res = await raw('GET', '/docs/html', ['cookie', `__Host-th-at=${at}`]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html');
    expect(res.headers['x-content-type-options']).toBeUndefined();
    expect((await inProcess('GET', '/docs/html', { cookie: `__Host-th-at=${at}` })).headers.has('x-content-type-options')).toBe(false);
  });
});
