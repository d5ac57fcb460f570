/**
 * How the token handler talks to the IdP: one size-limited fetch, fresh per-call options (the
 * timeout, the loopback-http allowance) and the rule that an unreachable IdP is the contract's 502.
 */
import * as oauth from 'oauth4webapi';
import { isLoopbackHost, type Config } from '../types.js';
import { TokenHandlerError, type Reason } from '../errors.js';
import { readLimited } from '../read-limited.js';

/**
 * No answer of an IdP (metadata, key set, token response) is anywhere near this; a larger one is
 * refused before it is parsed, so a broken or hostile IdP cannot make the token handler buffer
 * megabytes per login.
 */
export const MAX_IDP_RESPONSE_BYTES = 256 * 1024;

/** The options oauth4webapi takes for one request to the IdP. */
export interface IdpRequestOptions {
  readonly [oauth.customFetch]: typeof fetch;
  readonly [oauth.allowInsecureRequests]: boolean;
  readonly signal: AbortSignal;
}

export interface IdpFetch {
  /** The size-limited fetch; also the one jose loads the key set with. */
  readonly fetch: typeof fetch;
  /** True for an http issuer on a loopback host (local development and tests). */
  readonly insecure: boolean;
  /** Options for one request: a fresh timeout of TH_IDP_TIMEOUT each time. */
  requestOptions(): IdpRequestOptions;
  /** Runs `fn`, turning a network failure (refused, reset, timed out) into the contract's 502 with `reason`. */
  call<T>(reason: Reason, fn: () => Promise<T>): Promise<T>;
}

export function createIdpFetch(config: Config, inner: typeof fetch): IdpFetch {
  const issuerUrl = new URL(config.issuer);
  // http is accepted by parseConfig only for loopback issuers (local development and tests).
  const insecure = issuerUrl.protocol === 'http:' && isLoopbackHost(issuerUrl.hostname);
  const limited = limitedFetch(inner, MAX_IDP_RESPONSE_BYTES);
  return {
    fetch: limited,
    insecure,
    requestOptions: () => ({
      [oauth.customFetch]: limited,
      [oauth.allowInsecureRequests]: insecure,
      signal: AbortSignal.timeout(config.idpTimeout),
    }),
    async call(reason, fn) {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof TokenHandlerError) throw error;
        throw new TokenHandlerError('authorization_server_error', { reason, detail: 'The authorization server could not be reached', cause: error });
      }
    },
  };
}

/**
 * A fetch for the IdP that refuses an answer larger than `limit` bytes (declared or streamed)
 * before anything parses it. The body is read under the caller's abort signal, so a provider that
 * sends headers and then stalls is cut off by the same timeout.
 */
export function limitedFetch(inner: typeof fetch, limit: number): typeof fetch {
  const tooLarge = () => new TokenHandlerError('authorization_server_error', { reason: 'idp_response_too_large', detail: 'The authorization server sent an oversized answer' });
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
