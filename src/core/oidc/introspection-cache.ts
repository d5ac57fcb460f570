/**
 * The cache in front of introspection: the JWT an opaque token introspected into is reused until
 * the earlier of the token's `exp` and `TH_INTROSPECTION_CACHE_TTL`. Entries are keyed by the
 * SHA-256 of the opaque token (never the token itself), the in-process map is bounded in entries
 * and bytes (least recently used out first), and concurrent misses for one token share a single
 * call to the IdP. Behind the map there may be a shared level (on Workers the Cache API of the
 * data centre, see adapters/workers/introspection-cache.ts). An inactive answer is never cached:
 * the SPA refreshes to a new token (another key), so a negative entry would only serve replays,
 * and a token the IdP did not know yet (replication lag) would stay refused for the whole TTL.
 */
import type { Introspector } from './introspection.js';

export interface CachedIntrospection {
  readonly jwt: string;
  /** Milliseconds since the epoch; the entry is not used from then on. */
  readonly expiresAt: number;
}

/** A cache level shared beyond one isolate or process. Keys are token hashes; failures are the caller's to ignore. */
export interface SharedIntrospectionCache {
  get(key: string): Promise<CachedIntrospection | undefined>;
  put(key: string, entry: CachedIntrospection): Promise<void>;
}

/** SHA-256 of a token, base64url; injected where the platform has a cheaper one than Web Crypto (Node). */
export type TokenDigest = (token: string) => string | Promise<string>;

export interface CachingIntrospector {
  /** The JWT to forward for `token`, from the cache or the IdP. */
  jwtFor(token: string): Promise<string>;
  /** Entries and bytes held in process (for tests and operators). */
  readonly size: { readonly entries: number; readonly bytes: number };
}

/** Enough for every active session of a busy instance; a JWT is 1–2 KB. */
export const MAX_CACHED_INTROSPECTIONS = 10_000;
export const MAX_CACHED_INTROSPECTION_BYTES = 16 * 1024 * 1024;

export interface CachingIntrospectorOptions {
  /** Seconds; 0 keeps nothing (concurrent calls still share one introspection). */
  readonly ttlSeconds: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly shared?: SharedIntrospectionCache | undefined;
  readonly digest?: TokenDigest | undefined;
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

export function createCachingIntrospector(introspector: Introspector, options: CachingIntrospectorOptions): CachingIntrospector {
  const { now, shared } = options;
  const ttl = options.ttlSeconds * 1000;
  const digest = options.digest ?? webDigest;
  const maxEntries = options.maxEntries ?? MAX_CACHED_INTROSPECTIONS;
  const maxBytes = options.maxBytes ?? MAX_CACHED_INTROSPECTION_BYTES;
  // A Map iterates in insertion order: re-inserting on a hit keeps the least recently used first.
  const entries = new Map<string, CachedIntrospection>();
  const pending = new Map<string, Promise<string>>();
  let bytes = 0;

  const weight = (key: string, entry: CachedIntrospection) => key.length + entry.jwt.length;
  const remove = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    bytes -= weight(key, entry);
  };
  const remember = (key: string, entry: CachedIntrospection) => {
    remove(key);
    if (weight(key, entry) > maxBytes) return;
    entries.set(key, entry);
    bytes += weight(key, entry);
    for (const oldest of entries.keys()) {
      if (entries.size <= maxEntries && bytes <= maxBytes) break;
      remove(oldest);
    }
  };

  async function miss(key: string, token: string): Promise<string> {
    // A TTL of 0 means every call asks the IdP: then the shared level is neither read nor written.
    const fromShared = ttl > 0 ? await shared?.get(key).catch(() => undefined) : undefined;
    if (fromShared && fromShared.expiresAt > now()) {
      remember(key, fromShared);
      return fromShared.jwt;
    }
    const { jwt, exp } = await introspector.introspect(token);
    const at = now();
    const expiresAt = Math.min(at + ttl, exp === undefined ? Infinity : exp * 1000);
    if (expiresAt > at) {
      const entry = { jwt, expiresAt };
      remember(key, entry);
      // The shared level is a help, not a dependency: a failed write only costs a later miss.
      await shared?.put(key, entry).catch(() => {});
    }
    return jwt;
  }

  return {
    async jwtFor(token) {
      const key = await digest(token);
      const hit = entries.get(key);
      if (hit) {
        if (hit.expiresAt > now()) {
          entries.delete(key);
          entries.set(key, hit);
          return hit.jwt;
        }
        remove(key);
      }
      let flight = pending.get(key);
      if (!flight) {
        flight = miss(key, token).finally(() => pending.delete(key));
        pending.set(key, flight);
      }
      return flight;
    },
    get size() {
      return { entries: entries.size, bytes };
    },
  };
}

const encoder = new TextEncoder();

async function webDigest(token: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(token)));
  let binary = '';
  for (const byte of hash) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
