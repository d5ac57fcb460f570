/**
 * The domain types every layer shares: the frozen configuration that `config/parse.ts` produces
 * from the settings, and the pieces of it (routes, cookie keys) that the core works with.
 */
import type { CookieNames } from './session/cookie-table.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface CookieKey {
  readonly id: string;
  readonly secret: string;
}

export interface ApiRoute {
  /** Path prefix on the public origin, without a trailing slash, e.g. `/api/orders`. */
  readonly prefix: string;
  /** Upstream base URL without a trailing slash, e.g. `https://orders.internal/v2`. */
  readonly upstream: string;
  /** Upper-case methods this route accepts; undefined means any. */
  readonly methods?: readonly string[];
  /** A public route forwards without a session and without `Authorization`. */
  readonly public: boolean;
  /**
   * Whether `X-Content-Type-Options: nosniff` is added to the route's answers that lack it, so an
   * API's HTML or text cannot be sniffed into script on the SPA's origin; off only with the
   * `allow-sniffing` route option.
   */
  readonly nosniff: boolean;
  /**
   * The phantom token pattern (`introspect` route option): the session's opaque access token is
   * introspected and the JWT the provider answers with goes upstream instead. Absent: off.
   */
  readonly introspect?: true;
}

/** What an `introspect` route asks the provider for: RFC 9701's signed response, or Curity's `application/jwt`. */
export type IntrospectionFormat = 'token-introspection+jwt' | 'jwt';

export interface Config {
  readonly publicOrigin: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientAuth: ClientAuthMethod;
  readonly clientSecret?: string;
  readonly clientPrivateKey?: Readonly<JsonWebKey & { kid?: string; alg?: string }>;
  /** The first key seals; every key unseals. */
  readonly cookieKeys: readonly CookieKey[];
  readonly scope: string;
  /** Scopes the SPA may request at login/start beside those of `scope` (TH_ALLOWED_SCOPES). */
  readonly allowedScopes: readonly string[];
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string;
  readonly agentPath: string;
  readonly apiRoutes: readonly ApiRoute[];
  readonly cookiePrefix: string;
  /** The cookie names made from `cookiePrefix`, computed once at parse time. */
  readonly cookieNames: CookieNames;
  /** Every trusted web origin: the public origin first, then `TH_TRUSTED_ORIGINS`. */
  readonly trustedOrigins: readonly string[];
  /** The public origin's scheme without `:` (`https`): what `X-Forwarded-Proto` says upstream. */
  readonly publicProto: string;
  /** The public origin's host, with a port if it has one: what `X-Forwarded-Host` says upstream. */
  readonly publicHost: string;
  readonly extraAuthParams: readonly string[];
  /** Parameters the SPA may add to a refresh request. */
  readonly extraTokenParams: readonly string[];
  readonly sessionLifetime: number;
  readonly clockSkew: number;
  readonly usePar: boolean;
  /** DPoP (RFC 9449): a key pair per session, proofs to the IdP and on every proxied call. */
  readonly dpop: boolean;
  /** Lambda@Edge: metrics as CloudWatch Embedded Metric Format log lines (TH_CLOUDWATCH_METRICS). */
  readonly cloudwatchMetrics: boolean;
  readonly revokeOnLogout: boolean;
  readonly hiddenClaims: readonly string[];
  readonly logLevel: LogLevel;
  readonly idTokenSigningAlgs: readonly string[];
  /** Milliseconds. */
  readonly upstreamTimeout: number;
  /** Milliseconds allowed for each call to the IdP (discovery, keys, token, revocation). */
  readonly idpTimeout: number;
  readonly corsAllowHeaders: readonly string[];
  readonly introspectionFormat: IntrospectionFormat;
  /** Seconds an introspection answer is reused at most (never past the token's exp); 0: not cached. */
  readonly introspectionCacheTtl: number;
  /** Seconds a coordinated refresh's result is kept for refreshes presenting the superseded token. */
  readonly refreshGrace: number;
  /** OIDC Back-Channel Logout at `{agent}/backchannel-logout` (needs a session store). */
  readonly backchannelLogout: boolean;
  /** Milliseconds each instance caches a session's revocation state (0: the store on every request). */
  readonly revocationCacheTtl: number;
  /** Where shared session state lives; absent on Workers and Lambda@Edge without TH_SESSION_STORE. */
  readonly sessionStore?: StoreSetting;
}

/** http is allowed only for loopback hosts (local development and tests); everything else must be https. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** Where the shared session state lives (contract §6), as `TH_SESSION_STORE` names it. */
export interface RedisTarget {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly database: number;
  readonly cluster: boolean;
}

export type StoreSetting =
  | { readonly kind: 'memory' }
  | { readonly kind: 'redis'; readonly target: RedisTarget }
  | { readonly kind: 'durable-object' }
  | { readonly kind: 'dynamodb'; readonly table: string; readonly regions: readonly string[]; readonly endpoint?: string };
