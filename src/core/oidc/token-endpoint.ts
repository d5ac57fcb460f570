/**
 * The token endpoint (the code exchange and the refresh grant) and the revocation endpoint, with
 * every failure of the IdP mapped to the contract's errors: 5xx and unreachable are 502
 * `authorization_server_error`, a refusal is 400 `authorization_error` (401 `session_expired` for
 * a refresh answered `invalid_grant`), an answer that is no token response is 502, and a token
 * response that breaks a rule is 400 `invalid_request`.
 *
 * With a DPoP key (TH_DPOP), the code exchange and the refresh carry a proof from oauth4webapi's
 * DPoP handle (RFC 9449 §5), with the provider's last nonce; a `use_dpop_nonce` answer is retried
 * once with the nonce it brought (§8), and a token that comes back a bearer token is refused.
 */
import * as oauth from 'oauth4webapi';
import type { JWTPayload } from 'jose';
import type { Config } from '../types.js';
import { TokenHandlerError, oauthErrorForLog, type HttpErrorStatus, type OAuthErrorForLog } from '../errors.js';
import type { ClientAuthentication } from './client-auth.js';
import type { IdpFetch } from './idp-fetch.js';
import { createNonceMemory, type NonceMemory } from './dpop.js';

export interface TokenSet {
  readonly accessToken: string;
  /** Epoch seconds; absent when the IdP gave no lifetime. */
  readonly accessTokenExpiresAt?: number;
  readonly scope?: string;
  readonly refreshToken?: string;
  readonly idToken?: string;
  readonly idTokenClaims?: JWTPayload;
}

/**
 * Why a refresh token was not revoked, for the logout event's `revocation` field: the IdP has no
 * revocation endpoint, it refused with this OAuth error (RFC 7009 §2.2.1), or it failed otherwise.
 */
export type RevocationReason = 'no_revocation_endpoint' | 'revocation_failed' | `revocation_${OAuthErrorForLog}`;

export interface RevocationResult {
  readonly revoked: boolean;
  readonly reason?: RevocationReason;
}

export interface CodeExchangeExpectations {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

export interface TokenEndpoint {
  /**
   * Validates the authorization response (`callback`: code, state, iss) and exchanges the code; the
   * ID token is required. With `dpop`, the token must come back bound to that key.
   */
  exchangeCode(as: oauth.AuthorizationServer, callback: URLSearchParams, expected: CodeExchangeExpectations, dpop?: CryptoKeyPair): Promise<oauth.TokenEndpointResponse>;
  /** The refresh grant. `invalid_grant` means the session is over (401 `session_expired`). With `dpop`, as for the code. */
  refresh(as: oauth.AuthorizationServer, refreshToken: string, extraParams: Readonly<Record<string, string>>, dpop?: CryptoKeyPair): Promise<oauth.TokenEndpointResponse>;
  /** RFC 7009 revocation of a refresh token; never throws. */
  revoke(as: oauth.AuthorizationServer, refreshToken: string): Promise<RevocationResult>;
}

export function createTokenEndpoint(config: Config, deps: { readonly idp: IdpFetch; readonly credentials: ClientAuthentication }): TokenEndpoint {
  const { idp, credentials } = deps;
  // The provider's nonce serves every session's proofs on this instance (it is the server's, not the key's).
  const nonces = createNonceMemory(8);
  const send = (as: oauth.AuthorizationServer, keyPair: CryptoKeyPair | undefined, request: (options: oauth.TokenEndpointRequestOptions) => Promise<Response>) =>
    sendWithDpop(as, keyPair, { idp, credentials, nonces }, request);
  return {
    async exchangeCode(as, callback, expected, dpop) {
      let parameters: URLSearchParams;
      try {
        parameters = oauth.validateAuthResponse(as, credentials.client(), callback, expected.state);
      } catch (cause) {
        throw new TokenHandlerError('invalid_request', { reason: 'authorization_response_invalid', detail: 'The authorization response is invalid', cause });
      }
      const response = await send(as, dpop, async (options) =>
        oauth.authorizationCodeGrantRequest(as, credentials.client(), await credentials.auth(), parameters, config.redirectUri, expected.codeVerifier, options),
      );
      const result = await processTokenResponse(
        response,
        (r) => oauth.processAuthorizationCodeResponse(as, credentials.client(), r, { expectedNonce: expected.nonce, requireIdToken: true }),
        (error) => refused(error, 'The authorization server refused the code exchange'),
      );
      return dpop ? dpopBound(result) : result;
    },

    async refresh(as, refreshToken, extraParams, dpop) {
      const response = await send(as, dpop, async (options) =>
        oauth.refreshTokenGrantRequest(as, credentials.client(), await credentials.auth(), refreshToken, { ...options, additionalParameters: extraParams }),
      );
      const result = await processTokenResponse(
        response,
        (r) => oauth.processRefreshTokenResponse(as, credentials.client(), r),
        (error) =>
          error.error === 'invalid_grant'
            ? new TokenHandlerError('session_expired', { reason: 'refresh_invalid_grant', cause: error })
            : refused(error, 'The authorization server refused the refresh'),
      );
      return dpop ? dpopBound(result) : result;
    },

    async revoke(as, refreshToken) {
      try {
        if (!as.revocation_endpoint) return { revoked: false, reason: 'no_revocation_endpoint' };
        const response = await oauth.revocationRequest(as, credentials.client(), await credentials.auth(), refreshToken, {
          ...idp.requestOptions(),
          additionalParameters: { token_type_hint: 'refresh_token' },
        });
        await oauth.processRevocationResponse(response);
        return { revoked: true };
      } catch (error) {
        return { revoked: false, reason: error instanceof oauth.ResponseBodyError ? `revocation_${oauthErrorForLog(error.error)}` : 'revocation_failed' };
      }
    },
  };
}

/**
 * One request to the token endpoint, with a DPoP proof when there is a key: the provider's last
 * nonce goes in it, every answer's `DPoP-Nonce` is kept, and a `use_dpop_nonce` refusal is sent
 * once more with the nonce it brought (RFC 9449 §8). Never twice: a provider that keeps asking gets
 * its refusal back as an error.
 */
async function sendWithDpop(
  as: oauth.AuthorizationServer,
  keyPair: CryptoKeyPair | undefined,
  deps: { readonly idp: IdpFetch; readonly credentials: ClientAuthentication; readonly nonces: NonceMemory },
  request: (options: oauth.TokenEndpointRequestOptions) => Promise<Response>,
): Promise<Response> {
  const { idp, nonces } = deps;
  const origin = new URL(as.token_endpoint ?? as.issuer).origin;
  const handle = keyPair
    ? oauth.DPoP(deps.credentials.client(), keyPair, {
        [oauth.modifyAssertion]: (_header, payload) => {
          const nonce = nonces.get(origin);
          if (nonce !== undefined) payload['nonce'] = nonce;
        },
      })
    : undefined;
  const once = async () => {
    const response = await idp.call('token_endpoint_unreachable', () => request({ ...idp.requestOptions(), ...(handle ? { DPoP: handle } : {}) }));
    return { response, nonce: handle ? nonces.learn(origin, response.headers.get('dpop-nonce')) : undefined };
  };
  const first = await once();
  if (first.nonce === undefined || first.response.status !== 400 || (await oauthError(first.response)) !== 'use_dpop_nonce') return first.response;
  return (await once()).response;
}

/** The `error` of an OAuth error answer (RFC 6749 §5.2), read from a copy. */
async function oauthError(response: Response): Promise<unknown> {
  try {
    return ((await response.clone().json()) as { error?: unknown }).error;
  } catch {
    return undefined;
  }
}

/**
 * A token asked for with a proof must come back bound to the key (`token_type` DPoP, RFC 9449 §5):
 * a provider that ignores DPoP would otherwise quietly turn TH_DPOP=on into bearer tokens.
 */
function dpopBound(result: oauth.TokenEndpointResponse): oauth.TokenEndpointResponse {
  // oauth4webapi lower-cases token_type.
  if (result.token_type !== 'dpop') {
    throw new TokenHandlerError('invalid_request', { reason: 'token_not_dpop_bound', detail: 'The authorization server did not bind the token to the DPoP key' });
  }
  return result;
}

/** The access token's lifetime and what came with it, as the agent keeps it. */
export function toTokenSet(result: oauth.TokenEndpointResponse, idTokenClaims: JWTPayload | undefined, now: number): TokenSet {
  const expiresIn = typeof result.expires_in === 'number' && Number.isFinite(result.expires_in) ? Math.max(0, result.expires_in) : undefined;
  return {
    accessToken: result.access_token,
    ...(expiresIn !== undefined ? { accessTokenExpiresAt: Math.floor(now / 1000 + expiresIn) } : {}),
    ...(typeof result.scope === 'string' ? { scope: result.scope } : {}),
    ...(typeof result.refresh_token === 'string' ? { refreshToken: result.refresh_token } : {}),
    ...(typeof result.id_token === 'string' ? { idToken: result.id_token } : {}),
    ...(idTokenClaims ? { idTokenClaims } : {}),
  };
}

/** The IdP said no with an OAuth error body (RFC 6749 §5.2). */
function refused(error: oauth.ResponseBodyError, detail: string): TokenHandlerError {
  return new TokenHandlerError('authorization_error', { reason: `token_endpoint_${oauthErrorForLog(error.error)}`, detail, cause: error });
}

/** A 4xx or 5xx status as its reason suffix (`Response` statuses are 200–599). */
function errorStatus(status: number): HttpErrorStatus {
  return String(status) as HttpErrorStatus;
}

/** Reads the token endpoint's response, mapping every failure to the contract's errors. */
async function processTokenResponse(
  response: Response,
  process: (response: Response) => Promise<oauth.TokenEndpointResponse>,
  onClientError: (error: oauth.ResponseBodyError) => TokenHandlerError,
): Promise<oauth.TokenEndpointResponse> {
  if (response.status >= 500) {
    throw new TokenHandlerError('authorization_server_error', { reason: `token_endpoint_${errorStatus(response.status)}` });
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
        throw new TokenHandlerError('authorization_error', { reason: `token_endpoint_${errorStatus(response.status)}`, cause: error });
      }
      throw new TokenHandlerError('authorization_server_error', { reason: 'token_response_malformed', detail: 'The authorization server sent an invalid token response', cause: error });
    }
    throw new TokenHandlerError('invalid_request', { reason: 'token_response_invalid', detail: 'The token response is invalid', cause: error });
  }
}
