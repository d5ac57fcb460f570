/**
 * The Node server's shell for API routes: IncomingMessage in, the proxy pipeline, Node streams
 * piped both ways, ServerResponse out. It skips what costs most per proxied request on Node
 * (turning the request into a Web `Request` and the answer back, Hono's routing, Web-stream
 * bodies) and nothing else: every rule, the log line and the error answer are the pipeline's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { TokenHandler } from '../../app/create-token-handler.js';
import type { ProxyClaim, ProxyRequest, ProxyResult } from '../../app/proxy-pipeline.js';
import type { NodeTransport } from './http-transport.js';
import { RawHeaderView, toNodeHeaders } from './raw-headers.js';

/** A listener that answers the proxy's requests and returns false for everything else, which the caller hands to Hono. */
export function createNodeFastPath(handler: Pick<TokenHandler, 'proxy' | 'now'>, transport: NodeTransport): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { proxy, now } = handler;
  return (req, res) => {
    const target = req.url ?? '';
    // Absolute-form targets (`GET http://other/ HTTP/1.1`) are Hono's to refuse.
    if (!target.startsWith('/')) return false;
    const claim = proxy.claims(target);
    if (!claim) return false;
    const request: ProxyRequest<IncomingMessage> = {
      requestId: randomUUID(),
      started: now(),
      method: req.method ?? 'GET',
      target,
      headers: new RawHeaderView(req.rawHeaders),
      clientIp: req.socket.remoteAddress,
      // HTTP/1.1 (RFC 9112 §6.3): a request with neither Content-Length nor Transfer-Encoding has no
      // body; saying so lets the pipeline send such a call twice (a DPoP nonce retry).
      body: hasBody(req) ? req : null,
      onClientGone: (close) => watchClient(res, close),
    };
    void serve(proxy, transport, request, claim, res);
    return true;
  };
}

async function serve(proxy: TokenHandler['proxy'], transport: NodeTransport, request: ProxyRequest<IncomingMessage>, claim: ProxyClaim, res: ServerResponse): Promise<void> {
  try {
    write(res, await proxy.handle(request, transport, claim));
  } catch {
    res.destroy();
  }
}

function hasBody(req: IncomingMessage): boolean {
  // Node has built `req.headers` already (its server reads Host and Expect), so these reads are free.
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const UPSTREAM_CLOSE = Symbol('closes the upstream call');
type WatchedResponse = ServerResponse & { [UPSTREAM_CLOSE]?: () => void };

/**
 * A client that goes away (its response closes before it finished) takes the upstream call with
 * it: `close` is kept on the response and one shared listener calls it, rather than a closure and a
 * `once` wrapper per request. A second send (a DPoP retry) replaces the first's, already discarded.
 */
function watchClient(res: WatchedResponse, close: () => void): void {
  // Gone already (while the request was being judged): close at once.
  if (res.closed) {
    if (!res.writableFinished) close();
    return;
  }
  if (res[UPSTREAM_CLOSE] === undefined) res.on('close', closeUpstreamIfGone);
  res[UPSTREAM_CLOSE] = close;
}

function closeUpstreamIfGone(this: WatchedResponse): void {
  if (!this.writableFinished) this[UPSTREAM_CLOSE]?.();
}

function write(res: ServerResponse, result: ProxyResult<Readable>): void {
  if (result.kind === 'pass') {
    // claims() said it was ours; should that ever disagree with the pipeline, fail loudly, never hang.
    res.writeHead(500).end();
    return;
  }
  if (result.kind === 'answer') {
    const response = result.response;
    void response.arrayBuffer().then(
      (body) => {
        res.writeHead(response.status, toNodeHeaders(response.headers));
        res.end(Buffer.from(body));
      },
      () => res.destroy(),
    );
    return;
  }
  // The bag is already node:http's header object: written as is, no copy.
  res.writeHead(result.status, result.statusText, result.headers.record());
  const body = result.body;
  if (!body) {
    res.end();
    return;
  }
  body.on('error', () => res.destroy());
  body.pipe(res);
}
