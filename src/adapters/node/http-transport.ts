/**
 * The other upstream client on Node (undici-transport.ts is the default; this one is chosen by
 * `upstreamClient: 'node-http'`): node:http/https with a keep-alive pool, for both of Node's
 * shells (the fast path pipes Node streams; the Hono route, when the app is mounted by `fetch`,
 * passes Web streams through `webBodies`). Node's fetch (undici) costs several times the CPU of
 * http.request per call (bench/proxy.ts) and decodes gzip/br bodies while keeping
 * `Content-Encoding`; this never follows a redirect and never decodes: the answer streams the
 * upstream's bytes as they come, with backpressure both ways.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { upstreamUnavailable } from '../../app/proxy-pipeline.js';
import type { WebBody } from '../../app/context.js';
import type { UpstreamOrigin, UpstreamTransport } from '../../core/ports.js';
import { answerHasNoBody } from '../../core/proxy/bodies.js';
import type { HeaderRecord } from '../../core/proxy/header-bag.js';
import { RawHeaderView } from './raw-headers.js';

/** Node streams in and out (an `IncomingMessage` from node:http, a Readable of undici's bytes from the undici client). */
export type NodeTransport = UpstreamTransport<Readable | WebBody, Readable>;

export function createNodeHttpTransport(): NodeTransport {
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  return {
    send: (call) =>
      new Promise((resolve, reject) => {
        // The pipeline's calls come with the route's parsed origin and the path: no URL parse per call.
        let { origin, path } = call;
        if (origin === undefined || path === undefined) ({ origin, path } = parsed(call.url));
        const protocol = origin.protocol as 'http:' | 'https:';
        // The bag is node:http's header object already (node:http copies it into the request itself).
        let headers: Readonly<HeaderRecord> = call.headers.record();
        // A body without a declared length goes chunked, whatever the method: node:http would
        // otherwise send a DELETE's or OPTIONS' body unframed, and the upstream would read it as
        // the start of the next request on the connection.
        if (call.body !== null && headers['content-length'] === undefined) headers = { ...headers, 'transfer-encoding': 'chunked' };
        let timedOut = false;
        let answered = false;
        let timer: ReturnType<typeof setTimeout> | undefined;
        // The timeout covers the wait for the answer once the request and its body have gone out:
        // a long upload is not a slow upstream, and a long download is not cut.
        const startTimer = () => {
          if (answered) return;
          timer = setTimeout(() => {
            timedOut = true;
            request.destroy(new Error('upstream timeout'));
          }, call.timeout);
        };
        const request = (protocol === 'https:' ? https : http).request(
          { protocol, hostname: origin.hostname, port: origin.port, path, method: call.method, headers, agent: agents[protocol] },
          (answer) => {
            answered = true;
            clearTimeout(timer);
            const status = answer.statusCode ?? 0;
            if (status < 200 || status > 599) {
              // A status the Fetch API cannot carry (e.g. 600): the upstream is broken, not the token handler.
              answer.destroy();
              return reject(upstreamUnavailable('upstream_bad_status'));
            }
            const noBody = answerHasNoBody(call.method, status);
            if (noBody) answer.resume();
            resolve({ status, statusText: answer.statusMessage ?? '', headers: new RawHeaderView(answer.rawHeaders), body: noBody ? null : answer });
          },
        );
        request.on('error', (cause) => {
          answered = true;
          clearTimeout(timer);
          reject(upstreamUnavailable(timedOut ? 'upstream_timeout' : 'upstream_unreachable', cause));
        });
        // A client that goes away takes the upstream call with it, mid-upload or mid-download.
        call.onClientGone?.(() => request.destroy());
        const body = call.body;
        if (body === null) {
          request.end();
          startTimer();
          return;
        }
        const source = body instanceof Readable ? body : Readable.fromWeb(body as NodeWebStream<Uint8Array>);
        source.once('error', (error) => request.destroy(error));
        source.once('end', startTimer);
        source.pipe(request);
      }),
    // Closes the connection rather than read an unwanted body of unknown size to keep it.
    discard: (answer) => answer.body?.destroy(),
  };
}

/** A call's URL in the pieces node:http takes, for a call made without them. */
function parsed(url: string): { origin: UpstreamOrigin; path: string } {
  const { protocol, hostname, port, host, pathname, search } = new URL(url);
  return { origin: { protocol, hostname: hostname.replace(/^\[|\]$/g, ''), port, host }, path: pathname + search };
}

/** The same client for the Hono route: Web streams in and out. */
export function webBodies(transport: NodeTransport): UpstreamTransport<WebBody, WebBody> {
  return {
    async send(call) {
      const answer = await transport.send(call);
      return { ...answer, body: answer.body && toWebBody(answer.body) };
    },
    discard(answer) {
      void answer.body?.cancel().catch(() => {});
    },
  };
}

/**
 * A Node stream as a Web stream, with backpressure. Not `Readable.toWeb`: once the Web stream is
 * cancelled (an answer let go of, a DPoP nonce retry), a stream destroyed with chunks still
 * buffered emits them on its next turn, and Node's adapter then enqueues on a closed controller,
 * an uncaught exception that would end the process. Here nothing is enqueued once it is over.
 */
export function toWebBody(body: Readable): WebBody {
  let over = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        body.on('data', (chunk: Buffer) => {
          if (over) return;
          // A copy: Node may reuse the Buffer's pool after the event.
          controller.enqueue(new Uint8Array(chunk));
          if ((controller.desiredSize ?? 1) <= 0) body.pause();
        });
        body.once('end', () => {
          if (over) return;
          over = true;
          controller.close();
        });
        // An error, or a close before the end (the upstream went away mid-answer): the reader must not wait for more.
        const fail = (error?: Error) => {
          if (over) return;
          over = true;
          controller.error(error ?? new Error('The upstream answer ended early'));
        };
        body.once('error', fail);
        body.once('close', () => {
          if (!body.readableEnded) fail(body.errored ?? undefined);
        });
      },
      pull() {
        body.resume();
      },
      cancel() {
        over = true;
        body.destroy();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
  );
}
