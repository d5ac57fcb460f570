/**
 * The introspection cache's shared level on Workers: the Cache API of the data centre
 * (`caches.default`), so the isolates of one location reuse one introspection per token instead of
 * one each. Entries are keyed by a synthetic URL on a `.invalid` host (no viewer request can ever
 * name it) whose path is the SHA-256 of the opaque token; the value is the JWT, which its reader
 * could only have asked for with the token itself. The Cache API may evict early, and works only on
 * a custom domain (a `*.workers.dev` Worker keeps its in-isolate cache only); either way the cost is
 * a miss, never a wrong answer: the expiry travels with the entry and is checked on every read.
 */
import type { CachedIntrospection, SharedIntrospectionCache } from '../../core/oidc/introspection-cache.js';

/** The host of the cache keys. */
export const INTROSPECTION_CACHE_ORIGIN = 'https://introspection-cache.token-handler.invalid';
const EXPIRES_AT = 'x-token-handler-expires-at';

/** The Workers runtime's default cache, which the DOM typings do not know of. */
function defaultCache(): Cache | undefined {
  return (globalThis as { caches?: { default?: Cache } }).caches?.default;
}

/** `now` is the token handler's clock, which the entries' expiry is on. */
export function cacheApiIntrospectionCache(now: () => number = Date.now, cache: () => Cache | undefined = defaultCache): SharedIntrospectionCache {
  const url = (key: string) => `${INTROSPECTION_CACHE_ORIGIN}/${key}`;
  return {
    async get(key) {
      const hit = await cache()?.match(url(key));
      if (!hit) return undefined;
      const expiresAt = Number(hit.headers.get(EXPIRES_AT));
      const jwt = await hit.text();
      return Number.isFinite(expiresAt) && jwt ? { jwt, expiresAt } : undefined;
    },
    async put(key, entry: CachedIntrospection) {
      const seconds = Math.floor((entry.expiresAt - now()) / 1000);
      const target = cache();
      if (!target || seconds < 1) return;
      await target.put(url(key), new Response(entry.jwt, { headers: { 'cache-control': `max-age=${seconds}`, [EXPIRES_AT]: String(entry.expiresAt), 'content-type': 'application/jwt' } }));
    },
  };
}
