/**
 * The upstream client on undici's `Pool`, one pool per configured upstream origin (keep-alive), for
 * both of Node's shells like the node:http client it may replace (issue 15: a forwarder on undici
 * is ~1.5x one on node:http). It uses `dispatch` with a handler of its own: the answer's bytes are
 * pushed into a Readable as undici parses them (no copy, no decoding: `Content-Encoding` passes
 * through untouched), a full buffer pauses the parser, and no redirect is ever followed (undici
 * follows none without its redirect interceptor).
 *
 * Timeouts. undici's `headersTimeout` starts when the request is put on a socket, before its body is
 * sent, and fires during an upload whenever the upstream holds the body back (undici 7.30,
 * client-h1 `onParserTimeout`): a slow-reading upstream would cut a long upload. So it is off, and
 * `call.timeout` runs on a timer of ours from the moment the body has gone out (at once without
 * one), as the node:http client does. Connecting is bounded by the same timeout (`connectTimeout`).
 * Between two chunks of an answer's body undici allows `BODY_IDLE_MS` (its own default, stated):
 * not `call.timeout`, since an answer that has started may pause longer than the wait for it.
 */
import { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { Pool, type Dispatcher } from 'undici';
import { upstreamUnavailable } from '../../app/proxy-pipeline.js';
import type { WebBody } from '../../app/context.js';
import type { ResponseHeaderView, UpstreamAnswer, UpstreamCall } from '../../core/ports.js';
import { answerHasNoBody } from '../../core/proxy/bodies.js';
import type { NodeTransport } from './http-transport.js';

/** The longest silence allowed inside an answer's body before the call is cut. */
export const BODY_IDLE_MS = 300_000;

export interface UndiciTransport extends NodeTransport {
  /** Closes every pool's connections; for after the server has drained. */
  close(): Promise<void>;
}

export interface UndiciTransportOptions {
  /** Milliseconds allowed to open a connection (TCP and TLS): TH_UPSTREAM_TIMEOUT. */
  readonly connectTimeout: number;
}

/** The client for the upstreams at `upstreams` (the routes' base URLs); a call to any other origin is refused. */
export function createUndiciTransport(upstreams: Iterable<string>, options: UndiciTransportOptions): UndiciTransport {
  const pools = new Map<string, Pool>();
  for (const upstream of upstreams) {
    const origin = new URL(upstream).origin;
    // TLS is verified (undici's default): no `rejectUnauthorized` anywhere.
    if (!pools.has(origin)) pools.set(origin, new Pool(origin, { headersTimeout: 0, bodyTimeout: BODY_IDLE_MS, connect: { timeout: options.connectTimeout } }));
  }
  return {
    send: (call) =>
      new Promise((resolve, reject) => {
        // The pipeline hands over the route's origin, parsed once, and the path; a call built by hand is parsed here.
        const url = call.origin && call.path !== undefined ? undefined : new URL(call.url);
        const pool = pools.get(url ? url.origin : `${call.origin!.protocol}//${call.origin!.host}`);
        if (!pool) return reject(upstreamUnavailable('upstream_unreachable', new Error('No pool for this upstream origin')));
        new UpstreamExchange(call, resolve, reject).start(pool, url ? url.pathname + url.search : call.path!);
      }),
    // Closes the connection rather than read an unwanted body of unknown size to keep it.
    discard: (answer) => answer.body?.destroy(),
    close: async () => {
      await Promise.all([...pools.values()].map((pool) => pool.destroy()));
    },
  };
}

type Answer = UpstreamAnswer<Readable>;

/** One call's life in undici: its handler, its timer, and what ends it early. */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private answer: AnswerBody | null = null;
  private timer: NodeJS.Timeout | undefined;
  /** Until the promise is settled. */
  private pending = true;
  /** Once undici is done with the request (answered in full, or failed). */
  private finished = false;
  /** Set once this side has ended the call (the client left, the timeout): a late start is aborted. */
  private endedBy: Error | null = null;

  constructor(
    private readonly call: UpstreamCall<Readable | WebBody>,
    private readonly resolve: (answer: Answer) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(pool: Pool, path: string): void {
    const { call } = this;
    const headers: string[] = [];
    call.headers.forEach((value, name) => headers.push(name, value));
    // A client that goes away takes the upstream call with it, before or after the answer starts.
    call.onClientGone?.(() => this.end(new Error('The client went away'), 'upstream_unreachable'));
    if (this.endedBy) return;
    // An async iterable, not the stream itself: on a failure undici destroys a stream body, and the
    // client's request destroyed would take its connection (and the 502) with it.
    const body = call.body === null ? null : (sentThenTimed(call.body, this) as unknown as Readable);
    pool.dispatch({ path, method: call.method as Dispatcher.HttpMethod, headers, body }, this);
    if (body === null) this.startTimer();
  }

  /** The wait for the answer, from the moment the request and its body have gone out. */
  startTimer(): void {
    if (this.pending && !this.endedBy) this.timer = setTimeout(timeUp, this.call.timeout, this);
  }

  /** Ends the call from this side: rejects if nothing was answered yet, and aborts the request (now, or when undici starts it). */
  end(error: Error, reason: 'upstream_timeout' | 'upstream_unreachable' | 'upstream_bad_status'): void {
    if (this.endedBy || this.finished) return;
    this.endedBy = error;
    clearTimeout(this.timer);
    if (this.pending) {
      this.pending = false;
      this.reject(upstreamUnavailable(reason, error));
    }
    this.controller?.abort(error);
  }

  /** The answer's reader let it go before its end: the connection goes with it. */
  abandon(error: Error | null): void {
    if (!this.finished) this.controller?.abort(error ?? new Error('The answer was discarded'));
  }

  resume(): void {
    this.controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Called again when undici retries a request it could not start on a closed keep-alive socket.
    this.controller = controller;
    if (this.endedBy) controller.abort(this.endedBy);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusText?: string): void {
    // 1xx (103 Early Hints): informational; the answer follows.
    if (status < 200 || !this.pending) return;
    clearTimeout(this.timer);
    if (status > 599) {
      // A status the Fetch API cannot carry (e.g. 600): the upstream is broken, not the token handler.
      this.end(new Error('The upstream answered with a status outside 200-599'), 'upstream_bad_status');
      return;
    }
    if (!answerHasNoBody(this.call.method, status)) this.answer = new AnswerBody(this);
    this.pending = false;
    this.resolve({ status, statusText: statusText ?? '', headers: new ParsedHeaderView(headers), body: this.answer });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // Backpressure: a full buffer pauses undici's parser until the reader asks for more.
    if (this.answer && !this.answer.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.finished = true;
    this.answer?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.finished = true;
    clearTimeout(this.timer);
    if (this.pending) {
      this.pending = false;
      // A connection that does not open in time (a call with a body starts our timer only once it is sent).
      this.reject(upstreamUnavailable((error as { code?: string }).code === 'UND_ERR_CONNECT_TIMEOUT' ? 'upstream_timeout' : 'upstream_unreachable', error));
    } else this.answer?.destroy(error);
  }
}

function timeUp(exchange: UpstreamExchange): void {
  exchange.end(new Error('upstream timeout'), 'upstream_timeout');
}

/**
 * The client's body as undici pulls it (backpressure: undici asks for the next chunk only once the
 * socket has taken the last), never destroyed by the pull ending early; the answer's timer starts
 * when the last chunk has gone out.
 */
async function* sentThenTimed(body: Readable | WebBody, exchange: UpstreamExchange): AsyncGenerator<Uint8Array> {
  const chunks = body instanceof Readable ? body.iterator({ destroyOnReturn: false }) : (body as NodeWebStream<Uint8Array>).values({ preventCancel: true });
  for await (const chunk of chunks) yield chunk as Uint8Array;
  exchange.startTimer();
}

/** The answer's body: what undici parses, pushed as it comes; reading on resumes the parser. */
class AnswerBody extends Readable {
  constructor(private readonly exchange: UpstreamExchange) {
    // undici's own response bodies buffer 64 KiB.
    super({ highWaterMark: 64 * 1024 });
  }
  override _read(): void {
    this.exchange.resume();
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.exchange.abandon(error);
    // As node:http's IncomingMessage: an error is emitted only to a listener, never as an uncaught exception.
    callback(this.listenerCount('error') > 0 ? error : null);
  }
}

/**
 * undici's parsed answer headers (lower-case names; a repeated field as an array) read as the
 * proxy's rules read `Headers`: repeats joined with ', ', Set-Cookie lines kept apart. Own
 * properties only, so `get('constructor')` is not Object's.
 */
class ParsedHeaderView implements ResponseHeaderView {
  constructor(private readonly fields: IncomingHttpHeaders) {}
  get(name: string): string | null {
    const value = Object.hasOwn(this.fields, name) ? this.fields[name] : undefined;
    return value === undefined ? null : typeof value === 'string' ? value : value.join(', ');
  }
  forEach(callback: (value: string, name: string) => void): void {
    for (const name of Object.keys(this.fields)) {
      const value = this.fields[name]!;
      callback(typeof value === 'string' ? value : value.join(', '), name);
    }
  }
  getSetCookie(): string[] {
    const value = Object.hasOwn(this.fields, 'set-cookie') ? this.fields['set-cookie'] : undefined;
    return value === undefined ? [] : typeof value === 'string' ? [value] : value;
  }
}
