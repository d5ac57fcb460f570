/**
 * What the core needs from outside, as declared interfaces. Each platform adapter supplies them;
 * tests supply real ones (a real provider over fetch, a real store) or a frozen clock. The core
 * itself never reaches for a global clock, network or store: it is handed these.
 */

/** Milliseconds since the epoch. Injected so tests can freeze or move time. */
export type Clock = () => number;

/** Where JSON log lines go, one string per line (console.log by default). */
export type LogSink = (line: string) => void;

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

/** One API call, after every rule of the proxy has been applied. */
export interface UpstreamCall<RequestBody> {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  /** The client's body, streamed as the platform has it; null for GET and HEAD. */
  readonly body: RequestBody | null;
  /** Milliseconds to wait for the answer once the request and its body have gone out. */
  readonly timeout: number;
  /** Aborted when the client goes away; the transport then closes the upstream call. */
  readonly signal?: AbortSignal;
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
 * Sends one API call upstream: exactly one per platform (node:http on Node, fetch on Workers).
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
 * expires by itself. Implementations: memory, Redis/Valkey, a Durable Object, DynamoDB.
 */
export interface SessionStore {
  get(key: string): Promise<string | undefined>;
  /** Writes `value` for `ttlSeconds`, replacing any entry. */
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * Writes `value` only if the entry is now `expected` (undefined: only if there is none), as one
   * atomic step across every instance sharing the store. True when it wrote.
   */
  compareAndSet(key: string, expected: string | undefined, value: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/**
 * Counters and timings for operators (contract §8). Every method may be a no-op; the core calls
 * them with fixed, low-cardinality names and labels, never with a token or a user's id.
 */
export interface Metrics {
  count(name: string, labels?: Readonly<Record<string, string>>): void;
  /** A duration in milliseconds. */
  observe(name: string, milliseconds: number, labels?: Readonly<Record<string, string>>): void;
}

/** Metrics that go nowhere: the default, and free on the hot path. */
export const noMetrics: Metrics = {
  count() {},
  observe() {},
};
