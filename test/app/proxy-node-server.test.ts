/**
 * The proxy behind the real Node adapter on loopback: streaming both ways with backpressure, early answers, clients that leave, what the browser and the log see, large sessions, and the fast path's rules over real HTTP.
 * The harness (./proxy-harness.ts) starts the upstreams, the stack and the Node server for this file.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { PUBLIC_ORIGIN } from '../helpers/stack.js';
import { BIG, CHUNK, IN_FLIGHT_BOUND, OTHER_ORIGIN, SETTLE_MS, block, call, honoRequests, node, nodeClock, odd, raw, session, sleep, spa, stack, upstreamCount, withTimeout, writeBlocks } from './proxy-harness.js';

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
    expect(res.headers['x-repeated']).toBe('one, two');
    expect(res.headers['x-mixed-case']).toBe('Kept');
    // Each kept Set-Cookie on a line of its own (joined, a browser would read one cookie with odd attributes).
    expect(res.headers['set-cookie']).toEqual(['app=1; Path=/; SameSite=Lax', '__Host-th-atx=kept; Path=/']);
    for (const gone of ['clear-site-data', 'access-control-allow-origin', 'access-control-allow-credentials', 'x-hop']) {
      expect(res.headers[gone], gone).toBeUndefined();
    }
  });

  it('sends a field sent on several lines, in any letter case, upstream as one value, in their order', async () => {
    const res = await raw('GET', '/odd/cookies', ['cookie', session, 'X-Dup', 'one', 'x-dup', 'two', 'X-DUP', 'three', 'X-Single', 'Kept']);
    expect(res.status).toBe(201);
    const sent = odd.requests.at(-1)!;
    expect(sent.url).toBe('/odd/cookies');
    expect(sent.headers['x-dup']).toBe('one, two, three');
    expect(sent.headers['x-single']).toBe('Kept');
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
