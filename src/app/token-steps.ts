/**
 * The phantom token step of the proxy (contract §7): on a route with the `introspect` option the
 * session's opaque access token is introspected (core/oidc/introspection.ts, cached by
 * core/oidc/introspection-cache.ts) and the JWT the IdP answers with goes upstream as the bearer
 * token; every other route gets the plain step. Built once per token handler, only when a route
 * introspects, so a deployment without one pays nothing.
 */
import type { Agent } from '../core/agent/agent.js';
import { createClientAuthentication } from '../core/oidc/client-auth.js';
import { createIdpFetch } from '../core/oidc/idp-fetch.js';
import { createCachingIntrospector, type SharedIntrospectionCache, type TokenDigest } from '../core/oidc/introspection-cache.js';
import { createIntrospector } from '../core/oidc/introspection.js';
import type { Clock, IdpFetch } from '../core/ports.js';
import type { Config } from '../core/types.js';
import { usableAccessToken, type TokenStep } from './proxy-pipeline.js';

export interface IntrospectionDeps {
  readonly fetch: IdpFetch;
  readonly now: Clock;
  readonly introspectionCache?: SharedIntrospectionCache | undefined;
  readonly tokenDigest?: TokenDigest | undefined;
}

/** `plain` on every route, except that `introspect` routes forward the JWT the opaque token introspects into. */
export function withPhantomTokens(config: Config, agent: Agent, plain: TokenStep, deps: IntrospectionDeps): TokenStep {
  if (!config.apiRoutes.some((route) => route.introspect)) return plain;
  const introspector = createIntrospector(config, {
    idp: createIdpFetch(config, deps.fetch),
    credentials: createClientAuthentication(config, deps.now),
    // The agent's cached metadata and keys: nothing is fetched again for introspection.
    discovery: { getServer: (options) => agent.oidc.getServer(options) },
    jwt: { verify: (token, profile) => agent.oidc.verifyJwt(token, profile) },
    now: deps.now,
  });
  const cache = createCachingIntrospector(introspector, {
    ttlSeconds: config.introspectionCacheTtl,
    now: deps.now,
    shared: deps.introspectionCache,
    digest: deps.tokenDigest,
  });
  return async (route, headers) => {
    if (!route.introspect) return plain(route, headers);
    // Bearer even for a DPoP-bound session: a proof would bind the opaque token, which the API never sees.
    return `Bearer ${await cache.jwtFor((await usableAccessToken(agent, headers)).token)}`;
  };
}
