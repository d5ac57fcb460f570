// The example API behind the token handler's proxy: it validates the JWT access tokens that the
// demo provider issues, the way a real resource server would (RFC 9068 style, with jose against
// the issuer's JWKS), and has an echo route that tells tests what reached it.
//
//   GET /api/whoami              200 { sub, scope, exp, expires_in } | 401 invalid_token
//   ANY /api/echo, /api/echo/*   200 { method, path, query, search, headers, authorization, body_size }
//
// The Authorization header is never echoed back (only whether it was valid); the body is counted
// while it streams in, never buffered whole.
//
// With `dpop` (`DEMO_DPOP=1`), /api/* takes only `Authorization: DPoP <jwt>` with a proof that
// passes every check of examples/dpop-verifier.ts, and can demand its own nonce; anything else is
// 401 with a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1, §9).
//
// With opaque access tokens (the phantom token pattern, `introspectionAudience` set) it accepts
// instead only the signed introspection responses (RFC 9701) the token handler forwards, and reads
// the token's claims from their `token_introspection` member.

import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DPOP_ALGORITHMS, createDpopVerifier, type DpopVerifierOptions } from './dpop-verifier.js';

export type ApiRequestInfo = {
  method: string;
  /** The path as it arrived (query excluded). */
  path: string;
  /** Every request header as received, lower-case names, Authorization included (in-process only). */
  headers: Record<string, string>;
};

export type ExampleApiOptions = {
  /** Default 8082; 0 picks a free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** The OpenID provider's issuer; its discovery document gives the jwks_uri. */
  issuer: string;
  /** The `aud` an access token must carry. */
  audience: string;
  /** Called for every request before it is answered: lets tests assert what reached upstream. */
  onRequest?: (info: ApiRequestInfo) => void;
  /** Accept only DPoP-bound tokens with a valid proof (RFC 9449); `requireNonce` demands the API's nonce too. */
  dpop?: DpopVerifierOptions;
  /**
   * Phantom tokens: accept only signed introspection responses (`typ` token-introspection+jwt)
   * addressed to this `aud` (the token handler's client id), for an active token whose own `aud`
   * is `audience`; plain access tokens are then refused.
   */
  introspectionAudience?: string;
};

export type ExampleApi = { url: string; close(): Promise<void> };

const ALGORITHMS = ['RS256', 'PS256', 'ES256'];
const CLOCK_TOLERANCE_SECONDS = 5;

type Env = { Bindings: HttpBindings };

export function createExampleApiApp(options: Omit<ExampleApiOptions, 'port' | 'host'>) {
  const verify = options.introspectionAudience
    ? createIntrospectionVerifier(options.issuer, options.audience, options.introspectionAudience)
    : createVerifier(options.issuer, options.audience, options.dpop ? 'DPoP' : 'Bearer');
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    options.onRequest?.({
      method: c.req.method,
      path: rawPath(c),
      headers: Object.fromEntries(c.req.raw.headers),
    });
    await next();
  });

  if (options.dpop) app.use('/api/*', dpopGate(options.dpop, verify));

  app.get('/api/whoami', async (c) => {
    const payload = await verify(c.req.header('authorization'));
    if (!payload) {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      return c.json({ error: 'invalid_token' }, 401);
    }
    const now = Math.floor(Date.now() / 1000);
    return c.json({
      sub: payload.sub,
      scope: payload.scope,
      exp: payload.exp,
      expires_in: typeof payload.exp === 'number' ? Math.max(0, payload.exp - now) : undefined,
    });
  });

  const echo = async (c: Context<Env>) => {
    const authorizationHeader = c.req.header('authorization');
    const authorization =
      authorizationHeader === undefined
        ? 'absent'
        : (await verify(authorizationHeader))
          ? 'valid'
          : 'invalid';
    const headers: Record<string, string> = {};
    for (const [name, value] of c.req.raw.headers) {
      if (name !== 'authorization') headers[name] = value;
    }
    const url = new URL(c.req.url);
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of url.searchParams) {
      const previous = query[key];
      query[key] = previous === undefined ? value : [...[previous].flat(), value];
    }
    return c.json({
      method: c.req.method,
      path: rawPath(c),
      query,
      search: url.search,
      headers,
      authorization,
      body_size: await countBody(c.req.raw.body),
    });
  };
  app.all('/api/echo', echo);
  app.all('/api/echo/*', echo);

  app.notFound((c) => c.json({ error: 'not_found' }, 404));
  app.onError((err, c) => {
    console.error('example api: request failed', err);
    return c.json({ error: 'server_error' }, 500);
  });

  return app;
}

export async function startExampleApi(options: ExampleApiOptions): Promise<ExampleApi> {
  const host = options.host ?? '127.0.0.1';
  const app = createExampleApiApp(options);
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8082, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * The DPoP check before any /api route: a request with an Authorization header must carry a DPoP
 * token and a proof for it; the routes then see only requests that passed. Requests without one
 * go on (the echo route reports them as `absent`).
 */
function dpopGate(settings: DpopVerifierOptions, verify: ReturnType<typeof createVerifier>) {
  const dpop = createDpopVerifier(settings);
  const challenge = (c: Context<Env>, error: string, description: string) => {
    c.header('WWW-Authenticate', `DPoP error="${error}", error_description="${description}", algs="${DPOP_ALGORITHMS.join(' ')}"`);
    return c.json({ error, error_description: description }, 401);
  };
  return async (c: Context<Env>, next: () => Promise<void>) => {
    // A fresh nonce may come with any answer (RFC 9449 §9); this one never changes.
    if (settings.requireNonce) c.header('DPoP-Nonce', dpop.nonce());
    const authorization = c.req.header('authorization');
    if (authorization === undefined) return next();
    const payload = await verify(authorization);
    if (!payload) return challenge(c, 'invalid_token', 'The access token is not a valid DPoP-bound token');
    const result = await dpop.check({
      method: c.req.method,
      url: c.req.url,
      proof: c.req.header('dpop') ?? null,
      accessToken: authorization.slice(authorization.indexOf(' ') + 1),
      jkt: (payload['cnf'] as { jkt?: unknown } | undefined)?.jkt,
    });
    if (!result.ok) return challenge(c, result.error, result.description);
    return next();
  };
}

/**
 * The issuer's key set, located through its discovery document, fetched on first use (so the API
 * may start before the provider) and again after a failure.
 */
function createJwksLoader(issuer: string) {
  let jwks: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  return () => {
    jwks ??= (async () => {
      const response = await fetch(new URL('.well-known/openid-configuration', withSlash(issuer)));
      if (!response.ok) throw new Error(`discovery answered ${response.status}`);
      const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (metadata.issuer !== issuer || typeof metadata.jwks_uri !== 'string') {
        throw new Error('discovery document does not match the issuer');
      }
      return createRemoteJWKSet(new URL(metadata.jwks_uri));
    })();
    jwks.catch(() => {
      jwks = undefined;
    });
    return jwks;
  };
}

/** The token of `Authorization: <scheme> <token>`, or undefined. */
function tokenOf(authorization: string | undefined, scheme: 'Bearer' | 'DPoP'): string | undefined {
  return new RegExp(`^${scheme} ([A-Za-z0-9\\-._~+/]+=*)$`).exec(authorization ?? '')?.[1];
}

/**
 * Returns a function that validates `Authorization: <scheme> <jwt>` (Bearer, or DPoP in DPoP mode)
 * and gives its payload, or undefined for anything invalid (absent, another scheme, bad signature,
 * wrong iss/aud, expired...).
 */
function createVerifier(issuer: string, audience: string, scheme: 'Bearer' | 'DPoP') {
  const loadJwks = createJwksLoader(issuer);
  return async (authorization: string | undefined): Promise<JWTPayload | undefined> => {
    const token = tokenOf(authorization, scheme);
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, await loadJwks(), {
        issuer,
        audience,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch {
      return undefined;
    }
  };
}

/**
 * The phantom token variant: `Authorization: Bearer <signed introspection response>` (RFC 9701).
 * The JWT itself must be the provider's (signature, `iss`), typed token-introspection+jwt and
 * addressed to the token handler (`aud`); what it says about the token comes only from its
 * `token_introspection` member: active, not expired, for this API, with a subject. Gives those
 * claims as the token's payload, or undefined. Its `iat` is when the token handler introspected,
 * which may be up to TH_INTROSPECTION_CACHE_TTL ago: the token's own `exp` is what bounds it.
 */
function createIntrospectionVerifier(issuer: string, audience: string, introspectionAudience: string) {
  const loadJwks = createJwksLoader(issuer);
  return async (authorization: string | undefined): Promise<JWTPayload | undefined> => {
    const token = tokenOf(authorization, 'Bearer');
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, await loadJwks(), {
        issuer,
        audience: introspectionAudience,
        typ: 'token-introspection+jwt',
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['iat'],
      });
      const claims = payload['token_introspection'] as (JWTPayload & { active?: unknown }) | undefined;
      if (!claims || typeof claims !== 'object' || claims.active !== true) return undefined;
      const now = Math.floor(Date.now() / 1000);
      if (typeof claims.exp !== 'number' || claims.exp <= now - CLOCK_TOLERANCE_SECONDS) return undefined;
      if (claims.iss !== issuer || typeof claims.sub !== 'string') return undefined;
      if (!(Array.isArray(claims.aud) ? claims.aud.includes(audience) : claims.aud === audience)) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  };
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** The request path as received on the wire when available (URL parsing normalises dot segments). */
function rawPath(c: Context<Env>): string {
  const raw = c.env?.incoming?.url;
  if (typeof raw === 'string' && raw.startsWith('/')) return raw.split('?')[0] as string;
  return new URL(c.req.url).pathname;
}

async function countBody(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (!body) return 0;
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return size;
    size += value.byteLength;
  }
}
