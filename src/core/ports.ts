/**
 * What the core needs from outside, as declared interfaces. Each platform adapter supplies them;
 * tests supply real ones (a real provider over fetch, a real store) or a frozen clock. The core
 * itself never reaches for a global clock, network or store: it is handed these.
 */
import type { HeaderBag } from './proxy/header-bag.js';

/** Milliseconds since the epoch. Injected so tests can freeze or move time. */
export type Clock = () => number;

/**
 * Where JSON log lines go, one string per line (console.log by default). `urgent` (warn, error,
 * audit) asks a sink that buffers (Node's) to write it and what it holds now; others ignore it.
 */
export type LogSink = (line: string, urgent?: boolean) => void;

/** The fetch used for every call to the identity provider (discovery, keys, token, revocation). */
export type IdpFetch = typeof fetch;

/**
 * The read-only part of `Headers` the rules need: lower-case names, repeated fields joined with
 * ', ' as `Headers` does. A `Headers` is one; the Node adapter passes a view over Node's raw header
 * list, so its fast path reads the same values without building a `Headers` per request.
 */
export interface HeaderView {
  get(name: string): string | null;
  forEach(callback: (value: string, name: string) => void): void;
}

/** Response headers, which may repeat `Set-Cookie`. */
export interface ResponseHeaderView extends HeaderView {
  getSetCookie(): string[];
}

/** Where a route's upstream is, as a client connects to it. */
export interface UpstreamOrigin {
  /** `http:` or `https:`. */
  readonly protocol: string;
  /** The host name or address; an IPv6 address without brackets (as node:http takes it). */
  readonly hostname: string;
  /** '' for the scheme's default. */
  readonly port: string;
  /** `hostname[:port]` as a URL writes it (IPv6 in brackets): what logs and metrics name. */
  readonly host: string;
}

/** One API call, after every rule of the proxy has been applied. */
export interface UpstreamCall<RequestBody> {
  readonly url: string;
  /**
   * `url` in pieces, so a client connects without parsing it again: the route's origin (parsed
   * once per route) and the request target, path and query as `new URL(url)` gives them. The
   * pipeline always sets both; a call made by hand may leave them out.
   */
  readonly origin?: UpstreamOrigin | undefined;
  readonly path?: string | undefined;
  readonly method: string;
  /** Lower-case names; `forEach` gives every field, each `Set-Cookie` line on its own. */
  readonly headers: HeaderBag;
  /** The client's body, streamed as the platform has it; null for GET and HEAD. */
  readonly body: RequestBody | null;
  /** Milliseconds to wait for the answer once the request and its body have gone out. */
  readonly timeout: number;
  /**
   * Where the platform can tell that the client went away: the transport registers how to close
   * the upstream call, and the platform calls it (at most once). A plain hook rather than an
   * AbortSignal: an AbortController and its EventTarget per request cost more than the rest of the
   * proxy's bookkeeping on Node (CPU profile under load).
   */
  readonly onClientGone?: ((close: () => void) => void) | undefined;
}

/** The upstream's answer as the transport received it: never redirected, never decoded. */
export interface UpstreamAnswer<ResponseBody> {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ResponseHeaderView;
  /** Null for HEAD and for statuses without a body. */
  readonly body: ResponseBody | null;
}

/**
 * Sends one API call upstream: one per platform (undici's Pool on Node, or node:http if chosen; fetch on Workers).
 * It follows no redirect and decodes no body; it rejects when the upstream cannot be reached, does
 * not answer within `timeout`, or answers with a status HTTP cannot carry. Lambda@Edge has none:
 * CloudFront forwards the rewritten request itself.
 */
export interface UpstreamTransport<RequestBody, ResponseBody> {
  send(call: UpstreamCall<RequestBody>): Promise<UpstreamAnswer<ResponseBody>>;
  /** Lets go of an answer that is not passed on (its body unread), so the call is sent again (a DPoP nonce retry). */
  discard?(answer: UpstreamAnswer<ResponseBody>): void;
}

/**
 * The little state that must be shared between tabs, instances and regions (contract §6). Keys are
 * hashes and values are sealed by the caller: a store never sees a token in the clear. Every entry
 * expires by itself. Implementations (src/stores/): memory, Redis/Valkey, a Durable Object, DynamoDB;
 * all four pass one contract suite (test/stores/contract.ts).
 *
 * What every implementation accepts, so that code written against one runs on all four:
 * - a key is 1 to {@link STORE_LIMITS.keyLength} visible ASCII characters (a hash, a prefix);
 * - a value is any well-formed string (no lone surrogate), empty included, of at most
 *   {@link STORE_LIMITS.valueBytes} bytes in UTF-8;
 * - `ttlSeconds` is a whole number from 1 to {@link STORE_LIMITS.ttlSeconds}; an entry is readable
 *   for at least that long and absent soon after (to the millisecond in memory, Redis and the
 *   Durable Object; rounded up to the next second in DynamoDB, whose TTL attribute holds seconds).
 * Anything else is a programming error: the call throws a `RangeError` before reaching the engine.
 *
 * A store that cannot be reached, or does not answer within its bounded timeout, rejects with
 * {@link StoreUnavailableError}; it never hangs. After such a rejection the outcome of a write is
 * unknown (it may have been applied), so callers fail closed.
 */
export interface SessionStore {
  /** The entry's value, or undefined when there is none or it has expired. */
  get(key: string): Promise<string | undefined>;
  /** Writes `value` for `ttlSeconds`, replacing any entry. */
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * Writes `value` only if the entry is now `expected` (undefined: only if there is none, an
   * expired entry counting as none), as one atomic step across every instance sharing the store.
   * True when it wrote. Of any number of concurrent calls expecting the same entry, at most one
   * writes.
   */
  compareAndSet(key: string, expected: string | undefined, value: string, ttlSeconds: number): Promise<boolean>;
  /** Removes the entry; removing an absent entry is not an error. */
  delete(key: string): Promise<void>;
}

/** The bounds of {@link SessionStore}, the smallest that every engine allows. */
export const STORE_LIMITS = {
  keyLength: 256,
  valueBytes: 65_536,
  /** A year and a day: anything longer is a unit mistake (milliseconds for seconds). */
  ttlSeconds: 366 * 24 * 60 * 60,
} as const;

/**
 * The store's engine cannot be reached, refused the call, or did not answer in time. The message
 * says which engine and what happened, never a key or a value; `cause` holds the driver's error.
 * Contract §6: revocation checks then fail closed (503 `store_unavailable`).
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Counters and timings for operators (contract §8). Every method may be a no-op; the core calls
 * them with fixed, low-cardinality names and labels, never with a token or a user's id.
 */
export interface Metrics {
  /** `name` and label names from core/metrics.ts METRICS. */
  count(name: string, labels?: Readonly<Record<string, string>>): void;
  /** A duration in milliseconds. */
  observe(name: string, milliseconds: number, labels?: Readonly<Record<string, string>>): void;
}

/** Metrics that go nowhere: the default, and free on the hot path. */
export const noMetrics: Metrics = {
  count() {},
  observe() {},
};
