/**
 * TEST DOUBLE of an IdP's discovery and JWKS endpoints for unit tests of core/oidc: metadata and
 * keys served from memory through an injected fetch, counting what it serves. A real provider
 * will not sign a bad token on purpose, which is what most of these tests need.
 */
import type { JWK } from 'jose';

export const ISSUER = 'https://idp.example.test';

export interface FakeIdpOptions {
  metadata?: Record<string, unknown>;
  /** The published keys, read on every JWKS request. */
  keys?: () => JWK[];
  failDiscovery?: boolean;
  /** Answers the JWKS endpoint with this instead (a broken key set). */
  jwks?: () => Response;
}

export interface FakeIdp {
  readonly fetch: typeof fetch;
  readonly counts: { discovery: number; jwks: number };
}

export function fakeIdp(options: FakeIdpOptions & { defaultKeys: () => JWK[] }): FakeIdp {
  const counts = { discovery: 0, jwks: 0 };
  const fetchFn = (async (input: RequestInfo | URL) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url === `${ISSUER}/.well-known/openid-configuration`) {
      counts.discovery++;
      if (options.failDiscovery) return new Response('oops', { status: 503 });
      return Response.json({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/authorize`,
        token_endpoint: `${ISSUER}/token`,
        jwks_uri: `${ISSUER}/jwks`,
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256'],
        ...options.metadata,
      });
    }
    if (url === `${ISSUER}/jwks`) {
      counts.jwks++;
      if (options.jwks) return options.jwks();
      return Response.json({ keys: (options.keys ?? options.defaultKeys)() });
    }
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
  return { fetch: fetchFn, counts };
}

/** A JWT with any header and no signature (alg none), which no library will mint. */
export function unsigned(claims: Record<string, unknown>, header: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64(header)}.${b64(claims)}.`;
}
