/**
 * The rules every upstream client of the Node adapter keeps (`NodeTransport`: node:http today,
 * undici's Pool as the candidate), as one suite run against each (upstream-transports.test.ts):
 * no redirect followed, no body decoded, the timeout for an upstream that does not answer and not
 * for a slow upload or a long download, TLS verified, the call closed when the client goes away,
 * bodies streamed both ways with backpressure, statuses HTTP cannot carry refused.
 *
 * The upstreams are hand-made stand-ins for a misbehaving or slow API (named as such): no real API
 * redirects, stalls or answers 600 on request.
 */
import { HeaderBag } from '../../../src/core/proxy/header-bag.js';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webBodies, type NodeTransport } from '../../../src/adapters/node/http-transport.js';
import type { WebBody } from '../../../src/app/context.js';
import type { UpstreamCall } from '../../../src/core/ports.js';
import { TokenHandlerError } from '../../../src/core/errors.js';
import { makeTlsFiles } from '../../stores/tls-files.js';

/** The calls' `timeout`: short, so the suite waits little; every "not cut" case outlasts it several times. */
const TIMEOUT = 400;
const HOLD = 4 * TIMEOUT;
const MB = 1024 * 1024;
const BIG = 48 * MB;
/** What the kernel's socket buffers and the clients' own buffers may hold on one loopback hop; without backpressure all of BIG would pass. */
const IN_FLIGHT_BOUND = 24 * MB;
const SETTLE_MS = 300;

const CHUNK = 64 * 1024;

// Small helpers of the proxy harness (test/app/proxy-harness.ts), which starts a whole stack when imported.

function signal() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The n-th 64 KiB block of a big body: numbered, so a lost, doubled or reordered block changes the hash. */
function block(n: number): Buffer {
  const b = Buffer.alloc(CHUNK, n % 251);
  b.writeUInt32BE(n, 0);
  return b;
}

/** A server that must never be called: where the redirect points. */
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

export type TransportFactory = (upstreams: readonly string[], timeout: number) => NodeTransport & { close?(): Promise<void> };

/** The hand-made upstream: a stand-in for a misbehaving or slow API. */
async function startOddApi(evilUrl: string) {
  const requests: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
  const open = new Set<ServerResponse>();
  const fresh = () => ({
    arrived: signal(),
    closedEarly: signal(),
    holdResume: signal(),
    received: 0,
    firstBytes: signal(),
    readerHasFirst: signal(),
    sent: 0,
  });
  let state = fresh();
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    open.add(res);
    const current = state;
    // An answer closed before it finished: the client closed the call.
    res.on('close', () => {
      open.delete(res);
      if (!res.writableFinished) current.closedEarly.resolve();
    });
    current.arrived.resolve();
    switch (req.url) {
      case '/redirect':
        return void res.writeHead(302, { location: `${evilUrl}/steal` }).end();
      case '/gzip':
        return void res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' }).end(gzipSync('hello, compressed world'));
      case '/never':
        return; // never answers
      case '/status-600':
        return void res.writeHead(600, { 'content-type': 'text/plain' }).end('not http');
      case '/no-content':
        return void res.writeHead(204).end();
      case '/headers':
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2, with a comma; Path=/']);
        res.setHeader('x-multi', ['one', 'two']);
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      case '/quiet':
        // The answer starts at once, then says nothing for longer than the timeout, then ends.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        return void setTimeout(() => res.end('last'), HOLD);
      case '/reset-mid-upload':
        // Breaks the connection once the upload has started.
        return void req.once('data', () => req.socket.destroy());
      case '/download':
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        // The rest only once the reader holds the first block: a client that waited for the whole body would never deliver it.
        return void writeBlocks(res, BIG, () => withTimeout(current.readerHasFirst.promise, 5000, 'the reader got nothing'), (n) => (current.sent = n)).then(
          () => res.end(),
          () => res.destroy(),
        );
      default: {
        // /echo, /held: the body's size and hash, and how it was framed; /held stops reading for HOLD after the first bytes.
        const hash = createHash('sha256');
        req.on('data', (chunk: Buffer) => {
          if (current.received === 0) {
            current.firstBytes.resolve();
            if (req.url === '/held') {
              req.pause();
              void current.holdResume.promise.then(() => req.resume());
            }
          }
          current.received += chunk.length;
          hash.update(chunk);
        });
        req.on('end', () => {
          const echo = { method: req.method, size: current.received, sha256: hash.digest('hex'), content_length: req.headers['content-length'] ?? null, chunked: req.headers['transfer-encoding'] === 'chunked' };
          res.writeHead(200, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : JSON.stringify(echo));
        });
      }
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    get state() {
      return state;
    },
    reset() {
      state = fresh();
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A TCP server that takes connections and never says a word: a TLS handshake with it never ends. */
async function startSilentServer() {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/** An HTTPS upstream with a self-signed certificate nobody trusts. */
async function startSelfSignedApi() {
  const tls = await makeTlsFiles();
  const { readFile } = await import('node:fs/promises');
  let requests = 0;
  const server = https.createServer({ key: await readFile(tls.keyFile), cert: tls.ca }, (_req, res) => {
    requests++;
    res.end('should never be read');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}

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

/** A body of `total` bytes of numbered blocks, made only as it is read (so what was made is what the reader pulled). */
function blocks(total: number, every = 0) {
  const hash = createHash('sha256');
  const made = { bytes: 0 };
  let n = 0;
  const stream = new Readable({
    read() {
      if (n * CHUNK >= total) return void this.push(null);
      const b = block(n++);
      hash.update(b);
      made.bytes += b.length;
      if (every) setTimeout(() => this.push(b), every);
      else this.push(b);
    },
  });
  return { stream, made, sha256: () => hash.digest('hex') };
}

function expectedSha(total: number): string {
  const hash = createHash('sha256');
  for (let n = 0; n * CHUNK < total; n++) hash.update(block(n));
  return hash.digest('hex');
}

async function readAll(body: Readable | null): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body ?? []) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The error a call was refused with (a 502); call it at once on a call that is awaited later, so its rejection is never unhandled. */
async function rejection(promise: Promise<unknown>): Promise<TokenHandlerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenHandlerError);
  expect((error as TokenHandlerError).status).toBe(502);
  return error as TokenHandlerError;
}

/** Where the client's leaving is signalled: `leave()` plays the browser going away. */
function departure() {
  let close: (() => void) | undefined;
  return { onClientGone: (c: () => void) => void (close = c), leave: () => close!() };
}

export function describeUpstreamTransport(name: string, create: TransportFactory): void {
  describe(`${name}: the rules of an upstream client`, () => {
    let api: Awaited<ReturnType<typeof startOddApi>>;
    let selfSigned: Awaited<ReturnType<typeof startSelfSignedApi>>;
    let evil: Awaited<ReturnType<typeof startEvil>>;
    let closed: string;
    let silent: Awaited<ReturnType<typeof startSilentServer>>;
    let transport: ReturnType<TransportFactory>;

    beforeAll(async () => {
      evil = await startEvil();
      api = await startOddApi(evil.url);
      selfSigned = await startSelfSignedApi();
      closed = `http://127.0.0.1:${await closedPort()}`;
      silent = await startSilentServer();
      transport = create([`${api.url}/base`, selfSigned.url, closed, silent.url], TIMEOUT);
    });
    afterAll(async () => {
      await transport?.close?.();
      await api?.close();
      await selfSigned?.close();
      await silent?.close();
      evil?.close();
    });

    const call = <B extends Readable | WebBody>(method: string, url: string, more: Partial<UpstreamCall<B>> = {}): UpstreamCall<B> => ({
      url: url.startsWith('http') ? url : api.url + url,
      method,
      headers: new HeaderBag({ 'x-call': 'yes' }),
      body: null,
      timeout: TIMEOUT,
      ...more,
    });

    it('passes a redirect back without following it', async () => {
      const answer = await transport.send(call('GET', '/redirect'));
      expect(answer.status).toBe(302);
      expect(answer.headers.get('location')).toBe(`${evil.url}/steal`);
      await readAll(answer.body);
      expect(evil.hits).toEqual([]);
    });

    it('passes a gzip body and its Content-Encoding back undecoded', async () => {
      const answer = await transport.send(call('GET', '/gzip', { headers: new HeaderBag({ 'accept-encoding': 'gzip, br' }) }));
      expect(answer.headers.get('content-encoding')).toBe('gzip');
      expect(await readAll(answer.body)).toEqual(gzipSync('hello, compressed world'));
      expect(api.requests.at(-1)!.headers['accept-encoding']).toBe('gzip, br');
    });

    it('sends the call headers and reads the answer headers as Headers would: repeats joined, Set-Cookie lines apart', async () => {
      const answer = await transport.send(call('GET', '/headers'));
      expect(api.requests.at(-1)!.headers['x-call']).toBe('yes');
      expect(answer.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2, with a comma; Path=/']);
      expect(answer.headers.get('x-multi')).toBe('one, two');
      expect(answer.headers.get('X-Multi'.toLowerCase())).toBe('one, two');
      // Own fields only: not a property every object inherits.
      expect(answer.headers.get('constructor')).toBeNull();
      const seen: string[] = [];
      answer.headers.forEach((_value, name) => seen.push(name));
      expect(seen).toEqual(expect.arrayContaining(['content-type', 'x-multi']));
      await readAll(answer.body);
    });

    it('refuses a status HTTP cannot carry as upstream_bad_status', async () => {
      expect((await rejection(transport.send(call('GET', '/status-600')))).reason).toBe('upstream_bad_status');
    });

    it('gives no body for HEAD and 204', async () => {
      expect((await transport.send(call('HEAD', '/echo'))).body).toBeNull();
      const empty = await transport.send(call('GET', '/no-content'));
      expect({ status: empty.status, body: empty.body }).toEqual({ status: 204, body: null });
    });

    it('times out an upstream that does not answer: upstream_timeout, and the call is closed', async () => {
      api.reset();
      const error = await rejection(transport.send(call('GET', '/never')));
      expect(error.reason).toBe('upstream_timeout');
      await withTimeout(api.state.closedEarly.promise, 5000, 'the timed-out call is still open upstream');
    });

    it('times out a connection that never opens (a TLS handshake never answered), with a body or without', async () => {
      expect((await rejection(transport.send(call('GET', `${silent.url}/x`)))).reason).toBe('upstream_timeout');
      expect((await rejection(transport.send(call('POST', `${silent.url}/x`, { body: Readable.from([Buffer.from('x')]) })))).reason).toBe('upstream_timeout');
    });

    it('refuses a refused connection as upstream_unreachable', async () => {
      expect((await rejection(transport.send(call('GET', `${closed}/x`)))).reason).toBe('upstream_unreachable');
    });

    it('verifies TLS: a self-signed upstream is refused as upstream_unreachable, no request reaches it', async () => {
      const error = await rejection(transport.send(call('GET', `${selfSigned.url}/x`)));
      expect(error.reason).toBe('upstream_unreachable');
      expect(String((error.cause as { code?: string } | undefined)?.code)).toMatch(/SELF_SIGNED|CERT/);
      expect(selfSigned.requests).toBe(0);
    });

    it('does not cut a slow upload: a client trickling its body for longer than the timeout', async () => {
      api.reset();
      const body = blocks(8 * CHUNK, TIMEOUT / 3);
      const answer = await transport.send(call('POST', '/echo', { body: body.stream }));
      expect(JSON.parse((await readAll(answer.body)).toString())).toMatchObject({ size: 8 * CHUNK, sha256: expectedSha(8 * CHUNK) });
    });

    it('streams an upload with backpressure, and an upstream holding it back for longer than the timeout does not cut it', async () => {
      api.reset();
      const body = blocks(BIG);
      const sending = transport.send(call('PUT', '/held', { body: body.stream, headers: new HeaderBag({ 'content-length': String(BIG) }) }));
      await withTimeout(api.state.firstBytes.promise, 5000, 'the upstream saw nothing: the client buffers uploads');
      await sleep(HOLD);
      // The upstream stopped reading: the body is pulled no further than the path between can hold.
      expect(body.made.bytes - api.state.received).toBeLessThan(IN_FLIGHT_BOUND);
      api.state.holdResume.resolve();
      const answer = await sending;
      expect(JSON.parse((await readAll(answer.body)).toString())).toEqual({ method: 'PUT', size: BIG, sha256: expectedSha(BIG), content_length: String(BIG), chunked: false });
    });

    it('streams a long download with backpressure, and an answer quiet for longer than the timeout is not cut', async () => {
      api.reset();
      const answer = await transport.send(call('GET', '/download'));
      const body = answer.body!;
      const [first] = (await once(body, 'data')) as [Buffer];
      body.pause();
      api.state.readerHasFirst.resolve();
      await sleep(SETTLE_MS);
      expect(api.state.sent - first.length).toBeLessThan(IN_FLIGHT_BOUND);
      const hash = createHash('sha256').update(first);
      let size = first.length;
      for await (const chunk of body) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      expect({ size, sha256: hash.digest('hex') }).toEqual({ size: BIG, sha256: expectedSha(BIG) });
      const quiet = await transport.send(call('GET', '/quiet'));
      expect((await readAll(quiet.body)).toString()).toBe('first;last');
    });

    it('sends POST, PUT and DELETE bodies, with and without a length; the connection stays in step', async () => {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        api.reset();
        const sized = await transport.send(call(method, '/echo', { body: Readable.from([Buffer.from('{"a":1}')]), headers: new HeaderBag({ 'content-length': '7', 'content-type': 'application/json' }) }));
        expect(JSON.parse((await readAll(sized.body)).toString())).toMatchObject({ method, size: 7, content_length: '7', chunked: false });
        api.reset();
        // No length: chunked, whatever the method, so the upstream never reads it as the next request.
        const unsized = await transport.send(call(method, '/echo', { body: Readable.from([Buffer.from('abc'), Buffer.from('de')]) }));
        expect(JSON.parse((await readAll(unsized.body)).toString())).toMatchObject({ method, size: 5, content_length: null, chunked: true });
        api.reset();
        const next = await transport.send(call('GET', '/echo'));
        expect(JSON.parse((await readAll(next.body)).toString())).toMatchObject({ method: 'GET', size: 0 });
      }
    });

    it('streams Web bodies both ways (the Hono route)', async () => {
      api.reset();
      const web = webBodies(transport);
      const body = Readable.toWeb(blocks(4 * MB).stream) as unknown as WebBody;
      const answer = await web.send(call('POST', '/echo', { body }));
      expect(JSON.parse(await new Response(answer.body).text())).toMatchObject({ size: 4 * MB, sha256: expectedSha(4 * MB), chunked: true });
      const gz = await web.send(call('GET', '/gzip'));
      expect(Buffer.from(await new Response(gz.body).arrayBuffer())).toEqual(gzipSync('hello, compressed world'));
    });

    it('leaves the caller its body when the upstream breaks mid-upload: upstream_unreachable, the stream not destroyed', async () => {
      // The fast path hands the client's request itself; destroyed, it would take the client's connection and the 502.
      const body = blocks(BIG);
      const error = await rejection(transport.send(call('POST', '/reset-mid-upload', { body: body.stream })));
      expect(error.reason).toBe('upstream_unreachable');
      // Not all of it was read (else it would have ended, and destroyed itself), and it is still whole.
      expect(body.made.bytes).toBeLessThan(BIG);
      expect(body.stream.destroyed).toBe(false);
      body.stream.destroy();
    });

    it('closes the upstream call when the client goes away before the answer', async () => {
      api.reset();
      const gone = departure();
      const refused = rejection(transport.send(call('GET', '/never', { onClientGone: gone.onClientGone, timeout: 60_000 })));
      await withTimeout(api.state.arrived.promise, 5000, 'the call never reached the upstream');
      gone.leave();
      await withTimeout(api.state.closedEarly.promise, 5000, 'the upstream call is still open after the client left');
      expect((await refused).reason).toBe('upstream_unreachable');
    });

    it('closes the upstream call when the client goes away mid-upload', async () => {
      api.reset();
      const gone = departure();
      // Still trickling when the client leaves (an upstream that had stopped reading would not notice the close).
      const body = blocks(BIG, 50);
      const refused = rejection(transport.send(call('PUT', '/echo', { body: body.stream, onClientGone: gone.onClientGone })));
      await withTimeout(api.state.firstBytes.promise, 5000, 'the upstream saw nothing');
      gone.leave();
      await withTimeout(api.state.closedEarly.promise, 5000, 'the upstream call is still open after the client left');
      await refused;
      expect(api.state.received).toBeLessThan(BIG);
      body.stream.destroy();
    });

    it('closes the upstream call when the client goes away mid-download', async () => {
      api.reset();
      const gone = departure();
      const answer = await transport.send(call('GET', '/download', { onClientGone: gone.onClientGone }));
      await once(answer.body!, 'data');
      answer.body!.pause();
      api.state.readerHasFirst.resolve();
      gone.leave();
      await withTimeout(api.state.closedEarly.promise, 5000, 'the upstream response is still open after the client left');
      expect(api.state.sent).toBeLessThan(BIG);
    });

    it('sends nothing when the client left before the call was sent', async () => {
      const before = api.requests.length;
      const error = await rejection(transport.send(call('GET', '/echo?left', { onClientGone: (close) => close() })));
      expect(error.reason).toBe('upstream_unreachable');
      // A call sent after it is the only one the upstream sees.
      await readAll((await transport.send(call('GET', '/echo?after'))).body);
      expect(api.requests.slice(before).map((r) => r.url)).toEqual(['/echo?after']);
    });

    it('lets go of a discarded answer: its connection is closed, the next call still answered', async () => {
      api.reset();
      const answer = await transport.send(call('GET', '/download'));
      transport.discard!(answer);
      api.state.readerHasFirst.resolve();
      await withTimeout(api.state.closedEarly.promise, 5000, 'the discarded answer is still being sent');
      expect((await transport.send(call('GET', '/gzip'))).status).toBe(200);
    });
  });
}
