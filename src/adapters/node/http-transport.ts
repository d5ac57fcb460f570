/**
 * The proxy's upstream calls on Node, made with node:http/https rather than the global fetch.
 *
 * Node's fetch (undici) costs several times the CPU of http.request per call (the benchmark in
 * bench/proxy.ts shows it), and it decodes gzip/br bodies while keeping `Content-Encoding`. This
 * implements exactly the part of fetch the proxy uses: method, headers, a streamed body and an
 * abort signal. It never follows redirects and never decodes: the answer is a Response whose body
 * streams the upstream's bytes as they come, with backpressure both ways.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/** Statuses whose responses never carry a body. */
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

export function createNodeUpstreamFetch(): typeof fetch {
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return reject(new TypeError(`unsupported scheme ${url.protocol}`));
      const signal = init.signal;
      if (signal?.aborted) return reject(signal.reason);
      const method = init.method ?? 'GET';
      const headers: Record<string, string> = {};
      (init.headers instanceof Headers ? init.headers : new Headers(init.headers)).forEach((value, name) => (headers[name] = value));
      const req = (url.protocol === 'https:' ? https : http).request(
        { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: url.pathname + url.search, method, headers, agent: agents[url.protocol] },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 599) {
            // What fetch does with a status it cannot represent (e.g. 600); 1xx never arrive here.
            res.destroy();
            return reject(new TypeError(`invalid upstream status ${status}`));
          }
          const responseHeaders = new Headers();
          const raw = res.rawHeaders;
          for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
          const bodyless = method === 'HEAD' || NULL_BODY_STATUS.has(status);
          if (bodyless) res.resume();
          resolve(new Response(bodyless ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
        },
      );
      const abort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal?.addEventListener('abort', abort, { once: true });
      req.once('close', () => signal?.removeEventListener('abort', abort));
      req.on('error', reject);
      const body = init.body;
      if (body instanceof ReadableStream) {
        const source = Readable.fromWeb(body as import('node:stream/web').ReadableStream);
        source.once('error', (error) => req.destroy(error));
        source.pipe(req);
      } else if (body === null || body === undefined) {
        req.end();
      } else if (typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
        req.end(typeof body === 'string' ? body : body instanceof ArrayBuffer ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      } else {
        req.destroy();
        reject(new TypeError('unsupported request body type'));
      }
    });
}
