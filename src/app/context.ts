import type { TokenStep } from './proxy-pipeline.js';
import type { PreparedCall } from './proxy-pipeline.js';
import type { RequestLog } from './request-log.js';
import type { Clock, IdpFetch, LogSink, Metrics, SessionStore, UpstreamTransport } from '../core/ports.js';
import type { UnsealCacheBounds, UnsealCrypto } from '../core/session/cookie-seal.js';
import type { Tracing } from './tracing.js';
import type { SharedIntrospectionCache, TokenDigest } from '../core/oidc/introspection-cache.js';

/** Web-stream bodies both ways: what the Hono route hands a transport and gets back. */
export type WebBody = ReadableStream<Uint8Array>;

/**
 * What a platform adapter hands `createTokenHandler`. Everything has a default except what only the
 * platform knows. `B` is the platform's bindings type (`c.env` in Hono): Node's `HttpBindings`,
 * CloudFront's event, a Worker's env.
 */
export interface TokenHandlerDeps<B extends object = object> {
  /** For every call to the IdP. Default: the global fetch. */
  readonly fetch: IdpFetch;
  readonly now: Clock;
  /** Where JSON log lines go (default: console.log). */
  readonly logSink: LogSink;
  /**
   * Sends API calls upstream from the Hono route: one per platform (undici's Pool on Node, or node:http if chosen).
   * Default: fetch, as on Workers. Ignored when `handOff` is set.
   */
  readonly transport?: UpstreamTransport<WebBody, WebBody>;
  /**
   * Where the platform forwards the rewritten request itself (Lambda@Edge hands it back to
   * CloudFront): takes the prepared call instead of a transport and answers for it.
   */
  readonly handOff?: (prepared: PreparedCall<WebBody>, env: B) => Promise<Response> | Response;
  /** The caller's IP address as the platform saw it, for `X-Forwarded-For`. */
  readonly clientIp?: (env: B, request: Request) => string | undefined;
  /**
   * The request target (path and query) exactly as it arrived, where the platform keeps it (Node:
   * `incoming.url`). URL parsing resolves `..` and `%2e%2e`, which would hide a traversal attempt
   * from the proxy's path check; without it the parsed URL is used.
   */
  readonly requestTarget?: (env: B) => string | undefined;
  /** The request id for log lines and `X-Request-Id`, where the platform has one (CloudFront's); default a random UUID. */
  readonly requestId?: (env: B) => string | undefined;
  /** Cheaper unsealing primitives than Web Crypto's, where the platform has them (Node: node:crypto). */
  readonly unsealCrypto?: UnsealCrypto;
  /** The bounds of the sealer's cache of opened cookies (default DEFAULT_UNSEAL_CACHE); `false` for none (benchmarks). */
  readonly unsealCache?: UnsealCacheBounds | false;
  /**
   * Replaces the proxy's token step (default: the access token from its cookie, as a DPoP token when
   * it is bound to the session's key, else as a bearer token; on `introspect` routes the JWT it
   * introspects into: app/token-steps.ts).
   */
  readonly tokenStep?: TokenStep;
  /** Counters and timings (contract §8; names in core/metrics.ts). Default: none, at no cost. */
  readonly metrics?: Metrics;
  /** Spans for the agent operations, the IdP calls and the proxied calls (Node: OpenTelemetry). Default: none, at no cost. */
  readonly tracing?: Tracing;
  /** A second introspection cache level shared beyond this isolate (Workers: the Cache API). */
  readonly introspectionCache?: SharedIntrospectionCache;
  /** SHA-256 of a token for the introspection cache key, where the platform has a cheaper one than Web Crypto (Node). */
  readonly tokenDigest?: TokenDigest;
  /**
   * The shared session store (contract §6), opened by the platform (Node: TH_SESSION_STORE; a
   * Worker: its Durable Object; Lambda@Edge: DynamoDB). Without one, logout revokes nothing shared.
   */
  readonly sessionStore?: SessionStore;
  /**
   * Without `sessionStore`: a store of this instance alone (a Worker isolate, a Lambda container),
   * so that refresh coordination works at least within it (contract §6.1). Never used for revocation.
   */
  readonly localStore?: SessionStore;
  /** True once the server is draining (Node, on SIGTERM): `{agent}/ready` then answers 503. */
  readonly shuttingDown?: () => boolean;
}

export interface AppEnv<B extends object = object> {
  Bindings: B;
  Variables: {
    requestId: string;
    /** When the request arrived, by the handler's clock. */
    started: number;
    corsHeaders: Headers | undefined;
    log: RequestLog;
    /** Set by a route that wrote its own request log line (the proxy pipeline does). */
    logged: boolean;
  };
}
