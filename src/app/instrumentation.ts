/**
 * Metrics around what the token handler waits for: the IdP (its fetch), the upstream (the
 * transport) and the session store, plus the route label of a request. Each wrapper is applied
 * only when metrics are on, so with `noMetrics` the calls are the platform's own, untouched.
 */
import type { Metrics, SessionStore, UpstreamTransport } from '../core/ports.js';
import { StoreUnavailableError } from '../core/ports.js';
import type { Config } from '../core/types.js';
import { AGENT_ROUTES } from './agent-routes.js';

/** The `kind` and `route` labels of `requests`: an agent endpoint, an API route prefix, or other. */
export function routeLabels(config: Config): (path: string) => { kind: string; route: string } {
  const agent = new Map(AGENT_ROUTES.map((r) => [config.agentPath + r.path, r.path]));
  for (const path of ['/health', '/ready']) agent.set(config.agentPath + path, path);
  // Longest prefix first, as the proxy matches them.
  const prefixes = config.apiRoutes.map((r) => r.prefix).sort((a, b) => b.length - a.length);
  return (path) => {
    const endpoint = agent.get(path);
    if (endpoint) return { kind: 'agent', route: endpoint };
    const prefix = prefixes.find((p) => path === p || path.startsWith(p + '/'));
    return prefix ? { kind: 'api', route: prefix } : { kind: 'other', route: 'other' };
  };
}

/** The IdP's fetch, timed per endpoint (`idp_duration`). */
export function timedFetch(inner: typeof fetch, metrics: Metrics, now: () => number): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const started = now();
    const endpoint = endpointOf(input);
    try {
      const response = await inner(input, init);
      metrics.observe('idp_duration', now() - started, { endpoint, outcome: 'answered' });
      return response;
    } catch (error) {
      metrics.observe('idp_duration', now() - started, { endpoint, outcome: 'failed' });
      throw error;
    }
  }) as typeof fetch;
}

/** The last segment of the path (`token`, `jwks`, `openid-configuration`…): a handful per IdP. */
function endpointOf(input: RequestInfo | URL): string {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const segment = new URL(url).pathname.split('/').filter(Boolean).at(-1) ?? '';
  return /^[A-Za-z0-9_.-]{1,40}$/.test(segment) ? segment : 'other';
}

/** An upstream transport, timed per upstream host (`upstream_duration`). */
export function timedTransport<Req, Res>(inner: UpstreamTransport<Req, Res>, metrics: Metrics, now: () => number): UpstreamTransport<Req, Res> {
  return {
    async send(call) {
      const started = now();
      const upstream = call.origin?.host ?? new URL(call.url).host;
      try {
        const answer = await inner.send(call);
        metrics.observe('upstream_duration', now() - started, { upstream, outcome: 'answered' });
        return answer;
      } catch (error) {
        metrics.observe('upstream_duration', now() - started, { upstream, outcome: 'failed' });
        throw error;
      }
    },
    ...(inner.discard ? { discard: (answer) => inner.discard!(answer) } : {}),
  };
}

/** A session store, timed per operation (`store_duration`). */
export function timedStore(inner: SessionStore, metrics: Metrics, now: () => number): SessionStore {
  const timed = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    const started = now();
    try {
      const result = await run();
      metrics.observe('store_duration', now() - started, { operation, outcome: 'ok' });
      return result;
    } catch (error) {
      metrics.observe('store_duration', now() - started, { operation, outcome: error instanceof StoreUnavailableError ? 'unavailable' : 'error' });
      throw error;
    }
  };
  return {
    get: (key) => timed('get', () => inner.get(key)),
    put: (key, value, ttl) => timed('put', () => inner.put(key, value, ttl)),
    compareAndSet: (key, expected, value, ttl) => timed('compare_and_set', () => inner.compareAndSet(key, expected, value, ttl)),
    delete: (key) => timed('delete', () => inner.delete(key)),
  };
}
