/**
 * The OpenID Connect client the agent uses: discovery, the authorization request (PKCE S256, state,
 * nonce, optional PAR), the code exchange, refresh, revocation, userinfo and the end-session URL, composed
 * from one file per concern in this folder.
 *
 * Protocol mechanics come from oauth4webapi (certified, Web APIs only). What it leaves to the
 * caller is done here with jose: the ID token's signature is always verified against the issuer's
 * JWKS with an algorithm allow-list (OIDC Core lets a client skip it for token-endpoint responses;
 * this project does not), and the project's stricter claim rules (no extra audiences, no foreign
 * `typ`, `iat` not in the future, same `sub` after refresh).
 */
import type { JWTPayload } from 'jose';
import type { Config } from '../types.js';
import { buildAuthorizationRequest, type AuthorizationOptions, type AuthorizationRequest } from './authorization-request.js';
import { createClientAuthentication } from './client-auth.js';
import { createDiscovery, type ServerState } from './discovery.js';
import { createDpopKeys, type DpopKeyData, type DpopKeys } from './dpop.js';
import { endSessionUrl } from './end-session.js';
import { createIdTokenValidator, type IdTokenExpectations } from './id-token.js';
import { createIdpFetch } from './idp-fetch.js';
import { createJwtValidator, type JwtProfile, type VerifiedJwt } from './jwt-validation.js';
import { createTokenEndpoint, toTokenSet, type CodeExchangeExpectations, type RevocationResult, type TokenSet } from './token-endpoint.js';
import { fetchUserinfo } from './userinfo.js';

export type { AuthorizationOptions, AuthorizationRequest } from './authorization-request.js';
export type { TokenSet } from './token-endpoint.js';

export interface CoreDeps {
  /** Used for every call to the IdP; injected so tests and platforms choose. */
  readonly fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

export interface OidcClient {
  /** The sessions' DPoP keys, imported once per instance, and the proofs they sign. */
  readonly dpop: DpopKeys;
  /** The IdP's metadata and key set, cached (see discovery.ts). */
  getServer(options?: { forceRefresh?: boolean }): Promise<ServerState>;
  /** Verifies an ID token's signature and the project's claim rules; refetches keys once on an unknown `kid`. */
  validateIdToken(idToken: string, expected: IdTokenExpectations): Promise<JWTPayload>;
  /** Verifies another kind of JWT from the IdP (a logout token) under its profile, with the same keys and rules. */
  verifyJwt(token: string, profile: JwtProfile): Promise<VerifiedJwt>;
  buildAuthorizationRequest(extraParams: Readonly<Record<string, string>>, options?: AuthorizationOptions): Promise<AuthorizationRequest>;
  /** The code exchange; `callback` holds the parameters the SPA forwarded (code, state, iss). With `dpopKey`, the token is bound to it. */
  exchangeCode(callback: URLSearchParams, expected: CodeExchangeExpectations, dpopKey?: DpopKeyData): Promise<TokenSet>;
  /** The refresh grant. `invalid_grant` means the session is over. With `dpopKey`, the new token is bound to it. */
  refresh(refreshToken: string, expectedSub: string | undefined, extraParams?: Readonly<Record<string, string>>, dpopKey?: DpopKeyData): Promise<TokenSet>;
  /** RFC 7009 revocation; false when the IdP has no endpoint or refused. Never throws. */
  revokeRefreshToken(refreshToken: string): Promise<RevocationResult>;
  /** The RP-initiated logout URL, or undefined when the IdP has no end-session endpoint. */
  endSessionUrl(): Promise<string | undefined>;
  /** The userinfo endpoint's claims for the access token, which must be about `expectedSub` (see userinfo.ts). */
  userinfo(accessToken: string, expectedSub: string): Promise<JWTPayload>;
}

export function createOidcClient(config: Config, deps: CoreDeps): OidcClient {
  const idp = createIdpFetch(config, deps.fetch);
  const discovery = createDiscovery(config, { idp, now: deps.now });
  const credentials = createClientAuthentication(config, deps.now);
  const jwt = createJwtValidator({ issuer: config.issuer, audience: config.clientId, clockSkew: config.clockSkew, now: deps.now, discovery });
  const idTokens = createIdTokenValidator(config, jwt);
  const tokens = createTokenEndpoint(config, { idp, credentials });
  const dpop = createDpopKeys(deps.now);

  return {
    dpop,
    getServer: (options) => discovery.getServer(options),
    validateIdToken: (idToken, expected) => idTokens.validate(idToken, expected),
    verifyJwt: (token, profile) => jwt.verify(token, profile),

    async buildAuthorizationRequest(extraParams, options) {
      const { as } = await discovery.getServer();
      return buildAuthorizationRequest(as, extraParams, { config, idp, credentials }, options);
    },

    async exchangeCode(callback, expected, dpopKey) {
      const { as } = await discovery.getServer();
      const result = await tokens.exchangeCode(as, callback, expected, dpopKey && (await dpop.keyPair(dpopKey)));
      const claims = await idTokens.validate(result.id_token!, { nonce: expected.nonce, accessToken: result.access_token });
      return toTokenSet(result, claims, deps.now());
    },

    async refresh(refreshToken, expectedSub, extraParams = {}, dpopKey) {
      const { as } = await discovery.getServer();
      const result = await tokens.refresh(as, refreshToken, extraParams, dpopKey && (await dpop.keyPair(dpopKey)));
      // OIDC Core 12.2: a refreshed ID token must be for the same user.
      const claims = typeof result.id_token === 'string'
        ? await idTokens.validate(result.id_token, { accessToken: result.access_token, ...(expectedSub ? { sub: expectedSub } : {}) })
        : undefined;
      return toTokenSet(result, claims, deps.now());
    },

    async revokeRefreshToken(refreshToken) {
      let server: ServerState;
      try {
        server = await discovery.getServer();
      } catch {
        return { revoked: false, reason: 'revocation_failed' };
      }
      return tokens.revoke(server.as, refreshToken);
    },

    async endSessionUrl() {
      const { as } = await discovery.getServer();
      return endSessionUrl(as, config);
    },

    async userinfo(accessToken, expectedSub) {
      const { as } = await discovery.getServer();
      return fetchUserinfo(as, accessToken, expectedSub, { config, idp, credentials, jwt });
    },
  };
}
