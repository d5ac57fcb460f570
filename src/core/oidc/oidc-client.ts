/**
 * The OpenID Connect client: discovery, the authorization request (PKCE S256, state, nonce,
 * optional PAR), the code exchange, refresh, revocation and the end-session URL.
 *
 * Protocol mechanics come from oauth4webapi (certified, Web APIs only). What it leaves to the
 * caller is done here with jose: the ID token's signature is always verified against the issuer's
 * JWKS with an algorithm allow-list (OIDC Core lets a client skip it for token-endpoint responses;
 * this project does not), and the project's stricter claim rules (no extra audiences, no foreign
 * `typ`, `iat` not in the future, same `sub` after refresh).
 */
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, customFetch as joseCustomFetch, decodeProtectedHeader, importJWK, jwtVerify, errors as joseErrors } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { isLoopbackHost, type Config } from '../types.js';
import { TokenHandlerError } from '../errors.js';
import { readLimited } from '../read-limited.js';

export interface CoreDeps {
  /** Used for every call to the IdP; injected so tests and platforms choose. */
  readonly fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

export interface TokenSet {
  readonly accessToken: string;
  /** Epoch seconds; absent when the IdP gave no lifetime. */
  readonly accessTokenExpiresAt?: number;
  readonly scope?: string;
  readonly refreshToken?: string;
  readonly idToken?: string;
  readonly idTokenClaims?: JWTPayload;
}

export interface AuthorizationRequest {
  readonly url: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

export interface ServerState {
  readonly as: oauth.AuthorizationServer;
  readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly fetchedAt: number;
}

/** Discovery is refetched after this long, and at most this often when an unknown `kid` shows up. */
const DISCOVERY_MAX_AGE_MS = 60 * 60 * 1000;
const DISCOVERY_MIN_INTERVAL_MS = 60 * 1000;
/** After a failed discovery fetch, callers get the same failure for this long instead of hammering the IdP. */
const DISCOVERY_FAILURE_COOLDOWN_MS = 5 * 1000;
const MAX_ID_TOKEN_LENGTH = 16 * 1024;
/**
 * No answer of an IdP (metadata, key set, token response) is anywhere near this; a larger one is
 * refused before it is parsed, so a broken or hostile IdP cannot make the token handler buffer
 * megabytes per login.
 */
export const MAX_IDP_RESPONSE_BYTES = 256 * 1024;
const FOREIGN_JWT_TYPES = /^(application\/)?(logout\+jwt|at\+jwt|dpop\+jwt|token-introspection\+jwt|secevent\+jwt|client-authentication\+jwt|jwt-bearer)$/i;

export type OidcClient = ReturnType<typeof createOidcClient>;

export function createOidcClient(config: Config, deps: CoreDeps) {
  const issuerUrl = new URL(config.issuer);
  // http is accepted by parseConfig only for loopback issuers (local development and tests).
  const insecure = issuerUrl.protocol === 'http:' && isLoopbackHost(issuerUrl.hostname);
  const idpFetch = limitedFetch(deps.fetch, MAX_IDP_RESPONSE_BYTES);
  const requestOptions = () => ({
    [oauth.customFetch]: idpFetch,
    [oauth.allowInsecureRequests]: insecure,
    signal: AbortSignal.timeout(config.idpTimeout),
  });

  let server: ServerState | undefined;
  let pending: Promise<ServerState> | undefined;
  let lastFailure: { at: number; error: TokenHandlerError } | undefined;

  async function fetchServer(freshKeys: boolean): Promise<ServerState> {
    let as: oauth.AuthorizationServer;
    try {
      const response = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...requestOptions() });
      as = await oauth.processDiscoveryResponse(issuerUrl, response);
    } catch (cause) {
      throw new TokenHandlerError('authorization_server_error', 'The authorization server metadata could not be loaded', { cause, reason: 'discovery_failed' });
    }
    // RFC 8414 §3.3 / OIDC Discovery §4.3: the metadata is usable only if it names exactly our issuer.
    if (as.issuer !== config.issuer) {
      throw new TokenHandlerError('authorization_server_error', 'The authorization server metadata names another issuer', { reason: 'discovery_issuer_mismatch' });
    }
    if (!as.authorization_endpoint || !as.token_endpoint || !as.jwks_uri) {
      throw new TokenHandlerError('authorization_server_error', 'The authorization server metadata is incomplete', { reason: 'discovery_incomplete' });
    }
    const methods = as.code_challenge_methods_supported;
    // PKCE is part of our CSRF defence; an IdP that says it lacks S256 cannot be used safely (RFC 9700 §2.1.1).
    if (Array.isArray(methods) && !methods.includes('S256')) {
      throw new TokenHandlerError('authorization_server_error', 'The authorization server does not support PKCE S256', { reason: 'discovery_no_s256' });
    }
    const jwksUrl = new URL(as.jwks_uri);
    if (jwksUrl.protocol !== 'https:' && !(insecure && jwksUrl.protocol === 'http:')) {
      throw new TokenHandlerError('authorization_server_error', 'The authorization server metadata is invalid', { reason: 'discovery_insecure_jwks' });
    }
    // Keep the key set (and jose's own cache of it) unless the URI moved or a key was missing.
    const jwks =
      server && server.as.jwks_uri === as.jwks_uri && !freshKeys
        ? server.jwks
        : createRemoteJWKSet(jwksUrl, { [joseCustomFetch]: idpFetch, timeoutDuration: config.idpTimeout, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    return { as, jwks, fetchedAt: deps.now() };
  }

  /** The cached metadata; refetched when stale, single-flight, with a cooldown after failures. */
  async function getServer(options?: { forceRefresh?: boolean }): Promise<ServerState> {
    const now = deps.now();
    const fresh = server && now - server.fetchedAt < DISCOVERY_MAX_AGE_MS;
    const mayRefresh = !server || now - server.fetchedAt >= DISCOVERY_MIN_INTERVAL_MS;
    if (server && (fresh && !(options?.forceRefresh && mayRefresh))) return server;
    if (lastFailure && now - lastFailure.at < DISCOVERY_FAILURE_COOLDOWN_MS) {
      if (server) return server;
      throw lastFailure.error;
    }
    if (!pending) {
      pending = fetchServer(options?.forceRefresh === true)
        .then((s) => {
          server = s;
          lastFailure = undefined;
          return s;
        })
        .catch((error: TokenHandlerError) => {
          lastFailure = { at: deps.now(), error };
          throw error;
        })
        .finally(() => {
          pending = undefined;
        });
    }
    try {
      return await pending;
    } catch (error) {
      // A stale copy beats no copy when the IdP is briefly unreachable.
      if (server) return server;
      throw error;
    }
  }

  let clientAuthPromise: Promise<oauth.ClientAuth> | undefined;
  function clientAuth(): Promise<oauth.ClientAuth> {
    clientAuthPromise ??= (async () => {
      switch (config.clientAuth) {
        case 'client_secret_basic':
          return oauth.ClientSecretBasic(config.clientSecret!);
        case 'client_secret_post':
          return oauth.ClientSecretPost(config.clientSecret!);
        case 'private_key_jwt': {
          const jwk = config.clientPrivateKey!;
          // Imported once per isolate, never extractable.
          const key = (await importJWK({ ...jwk, ext: false } as never, jwk.alg, { extractable: false })) as CryptoKey;
          return oauth.PrivateKeyJwt({ key, ...(jwk.kid ? { kid: jwk.kid } : {}) });
        }
      }
    })();
    return clientAuthPromise;
  }

  function client(): oauth.Client {
    return {
      client_id: config.clientId,
      // Lets oauth4webapi's own time checks follow the injected clock (tests freeze it).
      [oauth.clockSkew]: Math.round((deps.now() - Date.now()) / 1000),
      [oauth.clockTolerance]: config.clockSkew,
    };
  }

  /** Verifies an ID token's signature and the project's claim rules; refetches keys once on an unknown `kid`. */
  async function validateIdToken(idToken: string, expected: { nonce?: string; sub?: string; accessToken?: string }): Promise<JWTPayload> {
    const invalid = (reason: string, cause?: unknown) => new TokenHandlerError('invalid_request', 'The ID token is invalid', { reason: `id_token_${reason}`, cause });
    if (idToken.length > MAX_ID_TOKEN_LENGTH) throw invalid('too_large');
    let header;
    try {
      header = decodeProtectedHeader(idToken);
    } catch (cause) {
      throw invalid('malformed', cause);
    }
    if (typeof header.typ === 'string' && FOREIGN_JWT_TYPES.test(header.typ)) throw invalid('wrong_typ');
    if (!header.alg || !config.idTokenSigningAlgs.includes(header.alg)) throw invalid('alg_not_allowed');

    // The key set's own failures (down, HTML, malformed) are the IdP's fault, not the token's: 502, not 400.
    const keyFor = (state: ServerState): JWTVerifyGetKey => async (protectedHeader, token) => {
      try {
        return await state.jwks(protectedHeader, token);
      } catch (error) {
        if (error instanceof TokenHandlerError || error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys || error instanceof joseErrors.JOSENotSupported) {
          throw error;
        }
        throw new TokenHandlerError('authorization_server_error', 'The authorization server keys could not be loaded', { cause: error, reason: 'jwks_unavailable' });
      }
    };
    const verify = async (state: ServerState) =>
      jwtVerify(idToken, keyFor(state), {
        issuer: config.issuer,
        audience: config.clientId,
        algorithms: [...config.idTokenSigningAlgs],
        clockTolerance: config.clockSkew,
        currentDate: new Date(deps.now()),
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      });
    let payload: JWTPayload;
    try {
      let state = await getServer();
      try {
        payload = (await verify(state)).payload;
      } catch (error) {
        if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
        // An unknown kid may mean the IdP moved its keys; look at the metadata again (rate-limited).
        const refreshed = await getServer({ forceRefresh: true });
        if (refreshed === state) throw error;
        state = refreshed;
        payload = (await verify(state)).payload;
      }
    } catch (error) {
      if (error instanceof TokenHandlerError) throw error;
      if (error instanceof joseErrors.JWKSTimeout || (error instanceof Error && error.name === 'TypeError')) {
        throw new TokenHandlerError('authorization_server_error', 'The authorization server keys could not be loaded', { cause: error, reason: 'jwks_unavailable' });
      }
      throw invalid(error instanceof joseErrors.JOSEError ? error.code.toLowerCase() : 'verification_failed', error);
    }

    const nowSeconds = deps.now() / 1000;
    if (typeof payload.iat !== 'number' || payload.iat > nowSeconds + config.clockSkew) throw invalid('iat_in_future');
    // Only our client may be an audience; a token also meant for others is not ours to accept (ID-03).
    if (Array.isArray(payload.aud) && payload.aud.some((a) => a !== config.clientId)) throw invalid('extra_audience');
    if (payload.azp !== undefined && payload.azp !== config.clientId) throw invalid('azp_mismatch');
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) throw invalid('bad_sub');
    if (expected.nonce !== undefined && payload['nonce'] !== expected.nonce) throw invalid('nonce_mismatch');
    if (expected.sub !== undefined && payload.sub !== expected.sub) throw invalid('sub_changed');
    // OIDC Core 3.1.3.8 makes at_hash optional in the code flow; when the IdP sends one it must bind this access token.
    if (payload['at_hash'] !== undefined && expected.accessToken !== undefined) {
      if (payload['at_hash'] !== (await tokenHash(expected.accessToken, header.alg))) throw invalid('at_hash_mismatch');
    }
    return payload;
  }

  /** Reads the token endpoint's response, mapping every failure to the contract's errors. */
  async function processTokenResponse(
    response: Response,
    process: (response: Response) => Promise<oauth.TokenEndpointResponse>,
    onClientError: (error: oauth.ResponseBodyError) => TokenHandlerError,
  ): Promise<oauth.TokenEndpointResponse> {
    if (response.status >= 500) {
      throw new TokenHandlerError('authorization_server_error', 'The authorization server failed', { reason: `token_endpoint_${response.status}` });
    }
    let body: unknown;
    try {
      body = await response.clone().json();
    } catch {
      body = undefined;
    }
    try {
      return await process(response);
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError) throw onClientError(error);
      const wellFormed =
        response.status === 200 && !!body && typeof body === 'object' &&
        typeof (body as Record<string, unknown>)['access_token'] === 'string' &&
        typeof (body as Record<string, unknown>)['token_type'] === 'string';
      if (!wellFormed) {
        if (response.status >= 400 && response.status < 500) {
          throw new TokenHandlerError('authorization_error', 'The authorization server refused the request', { cause: error, reason: `token_endpoint_${response.status}` });
        }
        throw new TokenHandlerError('authorization_server_error', 'The authorization server sent an invalid token response', { cause: error, reason: 'token_response_malformed' });
      }
      throw new TokenHandlerError('invalid_request', 'The token response is invalid', { cause: error, reason: 'token_response_invalid' });
    }
  }

  function toTokenSet(result: oauth.TokenEndpointResponse, idTokenClaims: JWTPayload | undefined): TokenSet {
    const expiresIn = typeof result.expires_in === 'number' && Number.isFinite(result.expires_in) ? Math.max(0, result.expires_in) : undefined;
    return {
      accessToken: result.access_token,
      ...(expiresIn !== undefined ? { accessTokenExpiresAt: Math.floor(deps.now() / 1000 + expiresIn) } : {}),
      ...(typeof result.scope === 'string' ? { scope: result.scope } : {}),
      ...(typeof result.refresh_token === 'string' ? { refreshToken: result.refresh_token } : {}),
      ...(typeof result.id_token === 'string' ? { idToken: result.id_token } : {}),
      ...(idTokenClaims ? { idTokenClaims } : {}),
    };
  }

  /** Wraps network failures (refused, reset, timed out) as the contract's 502. */
  async function call<T>(reason: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof TokenHandlerError) throw error;
      throw new TokenHandlerError('authorization_server_error', 'The authorization server could not be reached', { cause: error, reason });
    }
  }

  return {
    getServer,
    validateIdToken,

    async buildAuthorizationRequest(extraParams: Readonly<Record<string, string>>): Promise<AuthorizationRequest> {
      const { as } = await getServer();
      const codeVerifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const nonce = oauth.generateRandomNonce();
      const params = new URLSearchParams({
        ...extraParams,
        client_id: config.clientId,
        response_type: 'code',
        redirect_uri: config.redirectUri,
        scope: config.scope,
        state,
        nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      });
      const url = new URL(as.authorization_endpoint!);
      if (config.usePar && as.pushed_authorization_request_endpoint) {
        const response = await call('par_unreachable', async () =>
          oauth.pushedAuthorizationRequest(as, client(), await clientAuth(), params, requestOptions()),
        );
        if (response.status >= 500) {
          throw new TokenHandlerError('authorization_server_error', 'The authorization server failed', { reason: `par_${response.status}` });
        }
        let result: oauth.PushedAuthorizationResponse;
        try {
          result = await oauth.processPushedAuthorizationResponse(as, client(), response);
        } catch (cause) {
          throw new TokenHandlerError('authorization_error', 'The authorization server refused the pushed authorization request', { cause, reason: 'par_refused' });
        }
        url.searchParams.set('client_id', config.clientId);
        url.searchParams.set('request_uri', result.request_uri);
      } else {
        for (const [k, v] of params) url.searchParams.set(k, v);
      }
      return { url: url.href, state, nonce, codeVerifier };
    },

    /** The code exchange; `callback` holds the parameters the SPA forwarded (code, state, iss). */
    async exchangeCode(callback: URLSearchParams, expected: { state: string; nonce: string; codeVerifier: string }): Promise<TokenSet> {
      const { as } = await getServer();
      let parameters: URLSearchParams;
      try {
        parameters = oauth.validateAuthResponse(as, client(), callback, expected.state);
      } catch (cause) {
        throw new TokenHandlerError('invalid_request', 'The authorization response is invalid', { cause, reason: 'authorization_response_invalid' });
      }
      const response = await call('token_endpoint_unreachable', async () =>
        oauth.authorizationCodeGrantRequest(as, client(), await clientAuth(), parameters, config.redirectUri, expected.codeVerifier, requestOptions()),
      );
      const result = await processTokenResponse(
        response,
        (r) => oauth.processAuthorizationCodeResponse(as, client(), r, { expectedNonce: expected.nonce, requireIdToken: true }),
        (error) => new TokenHandlerError('authorization_error', 'The authorization server refused the code exchange', { cause: error, reason: `token_endpoint_${errorCodeForLog(error.error)}` }),
      );
      const claims = await validateIdToken(result.id_token!, { nonce: expected.nonce, accessToken: result.access_token });
      return toTokenSet(result, claims);
    },

    /** The refresh grant. `invalid_grant` means the session is over. */
    async refresh(refreshToken: string, expectedSub: string | undefined, extraParams: Readonly<Record<string, string>> = {}): Promise<TokenSet> {
      const { as } = await getServer();
      const response = await call('token_endpoint_unreachable', async () =>
        oauth.refreshTokenGrantRequest(as, client(), await clientAuth(), refreshToken, { ...requestOptions(), additionalParameters: extraParams }),
      );
      const result = await processTokenResponse(
        response,
        (r) => oauth.processRefreshTokenResponse(as, client(), r),
        (error) =>
          error.error === 'invalid_grant'
            ? new TokenHandlerError('session_expired', 'The session has expired', { cause: error, reason: 'refresh_invalid_grant' })
            : new TokenHandlerError('authorization_error', 'The authorization server refused the refresh', { cause: error, reason: `token_endpoint_${errorCodeForLog(error.error)}` }),
      );
      // OIDC Core 12.2: a refreshed ID token must be for the same user.
      const claims = typeof result.id_token === 'string' ? await validateIdToken(result.id_token, { accessToken: result.access_token, ...(expectedSub ? { sub: expectedSub } : {}) }) : undefined;
      return toTokenSet(result, claims);
    },

    /** RFC 7009 revocation; false when the IdP has no endpoint or refused. Never throws. */
    async revokeRefreshToken(refreshToken: string): Promise<{ revoked: boolean; reason?: string }> {
      try {
        const { as } = await getServer();
        if (!as.revocation_endpoint) return { revoked: false, reason: 'no_revocation_endpoint' };
        const response = await oauth.revocationRequest(as, client(), await clientAuth(), refreshToken, {
          ...requestOptions(),
          additionalParameters: { token_type_hint: 'refresh_token' },
        });
        await oauth.processRevocationResponse(response);
        return { revoked: true };
      } catch (error) {
        return { revoked: false, reason: error instanceof oauth.ResponseBodyError ? `revocation_${errorCodeForLog(error.error)}` : 'revocation_failed' };
      }
    },

    /**
     * The RP-initiated logout URL, or undefined when the IdP has no end-session endpoint. It names the
     * client with `client_id` rather than `id_token_hint`: the URL is handed to page JavaScript, and
     * no token may ever reach it.
     */
    async endSessionUrl(): Promise<string | undefined> {
      const { as } = await getServer();
      if (!as.end_session_endpoint) return undefined;
      const url = new URL(as.end_session_endpoint);
      url.searchParams.set('client_id', config.clientId);
      url.searchParams.set('post_logout_redirect_uri', config.postLogoutRedirectUri);
      return url.href;
    },
  };
}

/**
 * A fetch for the IdP that refuses an answer larger than `limit` bytes (declared or streamed)
 * before anything parses it. The body is read under the caller's abort signal, so a provider that
 * sends headers and then stalls is cut off by the same timeout.
 */
function limitedFetch(inner: typeof fetch, limit: number): typeof fetch {
  const tooLarge = () => new TokenHandlerError('authorization_server_error', 'The authorization server sent an oversized answer', { reason: 'idp_response_too_large' });
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await inner(input, init);
    if (Number(response.headers.get('content-length') ?? '0') > limit) {
      await response.body?.cancel().catch(() => {});
      throw tooLarge();
    }
    if (!response.body) return response;
    const body = await readLimited(response.body, limit, tooLarge);
    // 1xx/204/304 cannot carry a body in a Response; they never do from an IdP, but keep them faithful.
    const bodyless = response.status === 204 || response.status === 304;
    return new Response(bodyless ? null : body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }) as typeof fetch;
}

/** An IdP's `error` value fit for a log line: an RFC 6749 error code, or `other` (a hostile IdP may put anything there). */
function errorCodeForLog(code: unknown): string {
  return typeof code === 'string' && /^[a-z0-9_]{1,64}$/i.test(code) ? code : 'other';
}

/** `at_hash` (OIDC Core 3.1.3.6): the left half of the access token's hash under the ID token's algorithm's hash. */
async function tokenHash(token: string, alg: string | undefined): Promise<string> {
  const bits = /384$/.test(alg ?? '') ? 384 : /512$/.test(alg ?? '') || alg === 'EdDSA' || alg === 'Ed25519' ? 512 : 256;
  const digest = new Uint8Array(await crypto.subtle.digest(`SHA-${bits}`, new TextEncoder().encode(token)));
  let binary = '';
  for (const byte of digest.subarray(0, digest.length / 2)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
