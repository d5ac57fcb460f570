/**
 * Revoked sessions (contract §6.3): a logout writes a record under a hash of the session's id,
 * for the session's remaining lifetime, and every agent and proxied call asks whether its session
 * has one. Each instance caches the answer for TH_REVOCATION_CACHE_TTL (bounded, concurrent
 * questions about one session share one store read), so a replayed copy of the cookies is refused
 * everywhere within that delay, at one store read per session per delay per instance.
 */
import type { Clock, SessionStore } from '../ports.js';

export interface Revocations {
  /** Records that the session `id` is over, for `ttlSeconds` (its remaining lifetime). */
  revokeSession(id: string, ttlSeconds: number): Promise<void>;
  /** True when the session `id` was revoked. Rejects as the store does when it cannot answer. */
  isRevoked(id: string): Promise<boolean>;
}

export interface RevocationOptions {
  readonly store: SessionStore;
  /** Milliseconds an answer is trusted; 0 asks the store every time. */
  readonly cacheTtlMs: number;
  readonly now: Clock;
  /** The most sessions whose answer is cached at once (default 10,000). */
  readonly maxEntries?: number;
}

/** The record's value: there is nothing to say but that it exists. */
const REVOKED = '1';

export function createRevocations(options: RevocationOptions): Revocations {
  const { store, cacheTtlMs, now } = options;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, { until: number; revoked: Promise<boolean> }>();

  const remember = (id: string, revoked: Promise<boolean>) => {
    if (cacheTtlMs <= 0) return;
    cache.delete(id);
    // Map order is insertion order: the first entry is the oldest one.
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
    cache.set(id, { until: now() + cacheTtlMs, revoked });
  };

  return {
    async revokeSession(id, ttlSeconds) {
      await store.put(await sessionKey(id), REVOKED, Math.max(1, Math.ceil(ttlSeconds)));
      remember(id, Promise.resolve(true));
    },
    isRevoked(id) {
      const cached = cache.get(id);
      if (cached && cached.until > now()) return cached.revoked;
      const revoked = sessionKey(id).then((key) => store.get(key)).then((value) => value !== undefined);
      remember(id, revoked);
      // A failed read is not an answer: the next request asks again.
      revoked.catch(() => {
        if (cache.get(id)?.revoked === revoked) cache.delete(id);
      });
      return revoked;
    },
  };
}

/** The store never sees a session id itself, only its SHA-256 (contract §6: keys are hashes). */
async function sessionKey(id: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(id)));
  return 'rv:s:' + btoa(String.fromCharCode(...digest)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
