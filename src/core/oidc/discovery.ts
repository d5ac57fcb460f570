/**
 * The IdP's metadata and key set, fetched on first use and cached: refetched when an hour old, at
 * most once a minute when an unknown `kid` asks for it, single-flight, and after a failure the same
 * failure is answered for a few seconds instead of hammering the IdP. A stale copy is kept and
 * used while the IdP is briefly unreachable.
 */
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, customFetch as joseCustomFetch, type RemoteJWKSet } from 'jose';
import type { Config } from '../types.js';
import { TokenHandlerError } from '../errors.js';
import type { IdpFetch } from './idp-fetch.js';

export interface ServerState {
  readonly as: oauth.AuthorizationServer;
  readonly jwks: RemoteJWKSet;
  /** When this metadata was fetched (milliseconds since the epoch). */
  readonly fetchedAt: number;
}

export interface Discovery {
  /**
   * The cached metadata and key set. `forceRefresh` (an unknown `kid`) refetches the metadata and
   * starts a new key set, unless the last fetch is under a minute old.
   */
  getServer(options?: { forceRefresh?: boolean }): Promise<ServerState>;
}

/** Discovery is refetched after this long, and at most this often when an unknown `kid` shows up. */
const DISCOVERY_MAX_AGE_MS = 60 * 60 * 1000;
const DISCOVERY_MIN_INTERVAL_MS = 60 * 1000;
/** After a failed discovery fetch, callers get the same failure for this long instead of hammering the IdP. */
const DISCOVERY_FAILURE_COOLDOWN_MS = 5 * 1000;

export function createDiscovery(config: Config, deps: { readonly idp: IdpFetch; readonly now: () => number }): Discovery {
  const { idp, now } = deps;
  const issuerUrl = new URL(config.issuer);
  let server: ServerState | undefined;
  let pending: Promise<ServerState> | undefined;
  let lastFailure: { at: number; error: TokenHandlerError } | undefined;

  async function fetchServer(freshKeys: boolean): Promise<ServerState> {
    let as: oauth.AuthorizationServer;
    try {
      const response = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...idp.requestOptions() });
      as = await oauth.processDiscoveryResponse(issuerUrl, response);
    } catch (cause) {
      throw new TokenHandlerError('authorization_server_error', { reason: 'discovery_failed', detail: 'The authorization server metadata could not be loaded', cause });
    }
    // RFC 8414 §3.3 / OIDC Discovery §4.3: the metadata is usable only if it names exactly our issuer.
    if (as.issuer !== config.issuer) {
      throw new TokenHandlerError('authorization_server_error', { reason: 'discovery_issuer_mismatch', detail: 'The authorization server metadata names another issuer' });
    }
    if (!as.authorization_endpoint || !as.token_endpoint || !as.jwks_uri) {
      throw new TokenHandlerError('authorization_server_error', { reason: 'discovery_incomplete', detail: 'The authorization server metadata is incomplete' });
    }
    const methods = as.code_challenge_methods_supported;
    // PKCE is part of our CSRF defence; an IdP that says it lacks S256 cannot be used safely (RFC 9700 §2.1.1).
    if (Array.isArray(methods) && !methods.includes('S256')) {
      throw new TokenHandlerError('authorization_server_error', { reason: 'discovery_no_s256', detail: 'The authorization server does not support PKCE S256' });
    }
    const jwksUrl = new URL(as.jwks_uri);
    if (jwksUrl.protocol !== 'https:' && !(idp.insecure && jwksUrl.protocol === 'http:')) {
      throw new TokenHandlerError('authorization_server_error', { reason: 'discovery_insecure_jwks', detail: 'The authorization server metadata is invalid' });
    }
    // Keep the key set (and jose's own cache of it) unless the URI moved or a key was missing.
    const jwks =
      server && server.as.jwks_uri === as.jwks_uri && !freshKeys
        ? server.jwks
        : createRemoteJWKSet(jwksUrl, { [joseCustomFetch]: idp.fetch, timeoutDuration: config.idpTimeout, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    return { as, jwks, fetchedAt: now() };
  }

  return {
    async getServer(options) {
      const at = now();
      const fresh = server && at - server.fetchedAt < DISCOVERY_MAX_AGE_MS;
      const mayRefresh = !server || at - server.fetchedAt >= DISCOVERY_MIN_INTERVAL_MS;
      if (server && fresh && !(options?.forceRefresh && mayRefresh)) return server;
      if (lastFailure && at - lastFailure.at < DISCOVERY_FAILURE_COOLDOWN_MS) {
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
            lastFailure = { at: now(), error };
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
    },
  };
}
