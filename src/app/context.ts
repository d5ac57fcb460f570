import type { Context } from 'hono';
import type { LogSink } from './log.js';
import type { UnsealCrypto } from '../core/session/cookie-seal.js';
import type { UpstreamRequest } from '../core/proxy/headers.js';

/** What a platform adapter hands the app. Everything has a default except what only it knows. */
export interface AppDeps {
  /** For the IdP and the upstream APIs. */
  readonly fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Where JSON log lines go (default: console.log). */
  readonly logSink: LogSink;
  /** The caller's IP address as the platform saw it, for `X-Forwarded-For`. */
  readonly clientIp?: (c: Context<AppEnv>) => string | undefined;
  /**
   * The request target (path and query) exactly as it arrived, where the platform keeps it (Node:
   * `incoming.url`). URL parsing resolves `..` and `%2e%2e`, which would hide a traversal attempt
   * from the proxy's path check; without it the parsed URL is used.
   */
  readonly requestTarget?: (c: Context<AppEnv>) => string | undefined;
  /**
   * The fetch for proxied API calls, where the platform has a cheaper one than `fetch` (Node:
   * node:http, see adapters/node/http-transport.ts). It must not follow redirects. Default: `fetch`.
   */
  readonly upstreamFetch?: typeof fetch;
  /** Cheaper unsealing primitives than Web Crypto's, where the platform has them (Node: node:crypto). */
  readonly unsealCrypto?: UnsealCrypto;
  /** True where the fetch used for API calls hands back decoded bodies but keeps `Content-Encoding` (Node's undici). */
  readonly upstreamBodyDecoded: boolean;
  /**
   * Sends the rewritten request upstream. The default fetches it (Node, Workers); Lambda@Edge
   * instead hands the rewritten request back to CloudFront, which forwards it itself.
   */
  readonly forward?: (upstream: UpstreamRequest, c: Context<AppEnv>) => Promise<Response>;
  /** True once the server is draining (Node, on SIGTERM): `{agent}/ready` then answers 503. */
  readonly shuttingDown?: () => boolean;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    corsHeaders: Headers | undefined;
    logEvent: (name: string, fields?: Readonly<Record<string, string | number | boolean>>) => void;
  };
}
