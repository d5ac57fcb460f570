/**
 * Revoked sessions (contract §6.2, §6.3): a logout writes a record under a hash of the session's
 * id, a back-channel logout one under a hash of the IdP's `sid` or of the `sub` (with the logout
 * token's `iat`: that subject's sessions from before it are over), each for as long as a session it
 * ends can live. Every agent and proxied call asks whether its session has one. Each instance
 * caches the answer per session for TH_REVOCATION_CACHE_TTL (bounded; concurrent questions about
 * one session share one read), so a replayed copy of the cookies is refused everywhere within that
 * delay, at one round of store reads per session per delay per instance.
 */
import type { Clock, SessionStore } from '../ports.js';

/** What a session's cookies say about it, for the check. */
export interface RevocationSubject {
  /** The token handler's session id. */
  readonly id: string;
  /** The IdP's session id (`sid` of the ID token), kept when back-channel logout is on. */
  readonly idpSid?: string;
  readonly sub?: string;
  /** When the session logged in, epoch seconds (kept beside `sub`). */
  readonly loginAt?: number;
}

export interface Revocations {
  /** Records that the session `id` is over, for `ttlSeconds` (its remaining lifetime). */
  revokeSession(id: string, ttlSeconds: number): Promise<void>;
  /** Records that every session of the IdP session `sid` is over. */
  revokeIdpSession(sid: string, ttlSeconds: number): Promise<void>;
  /** Records that every session of `sub` that logged in at or before `before` (epoch seconds) is over. */
  revokeSubject(sub: string, before: number, ttlSeconds: number): Promise<void>;
  /** True the first time `jti` is seen (a logout token's), false for a replay, across instances. */
  firstUse(jti: string, ttlSeconds: number): Promise<boolean>;
  /** True when the session was revoked. Rejects as the store does when it cannot answer. */
  isRevoked(session: RevocationSubject): Promise<boolean>;
}

export interface RevocationOptions {
  readonly store: SessionStore;
  /** Milliseconds an answer is trusted; 0 asks the store every time. */
  readonly cacheTtlMs: number;
  readonly now: Clock;
  /** The most sessions whose answer is cached at once (default 10,000). */
  readonly maxEntries?: number;
  /**
   * SHA-256 in base64url without padding, as the key hash; Web Crypto's when absent. Node passes
   * node:crypto's synchronous one: three Web Crypto digests per check cost thread-pool round trips.
   */
  readonly digest?: ((id: string) => string | Promise<string>) | undefined;
}

/** The value of a record that says no more than that it exists. */
const REVOKED = '1';

export function createRevocations(options: RevocationOptions): Revocations {
  const { store, cacheTtlMs, now } = options;
  const digest = options.digest ?? webDigest;
  /** The store never sees an id itself, only its SHA-256 (contract §6: keys are hashes). */
  const key = async (kind: 's' | 'i' | 'u' | 'j', id: string): Promise<string> => `rv:${kind}:${await digest(id)}`;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, { until: number; revoked: Promise<boolean> }>();

  const remember = (id: string, revoked: Promise<boolean>) => {
    if (cacheTtlMs <= 0) return;
    cache.delete(id);
    // Map order is insertion order: the first entry is the oldest one.
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
    cache.set(id, { until: now() + cacheTtlMs, revoked });
  };
  const ttl = (seconds: number) => Math.max(1, Math.ceil(seconds));

  const ask = async (session: RevocationSubject): Promise<boolean> => {
    const bySubject = session.sub !== undefined && session.loginAt !== undefined;
    const [ownKey, idpKey, subjectKey] = await Promise.all([
      key('s', session.id),
      session.idpSid !== undefined ? key('i', session.idpSid) : undefined,
      bySubject ? key('u', session.sub!) : undefined,
    ]);
    // The keys first, then the reads in one go: a client that pipelines (node-redis) sends them in
    // one round trip, and the others at least in parallel.
    const [own, idp, subject] = await Promise.all([store.get(ownKey), idpKey && store.get(idpKey), subjectKey && store.get(subjectKey)]);
    return own !== undefined || idp !== undefined || (subject !== undefined && session.loginAt! <= Number(subject));
  };

  return {
    async revokeSession(id, seconds) {
      await store.put(await key('s', id), REVOKED, ttl(seconds));
      remember(id, Promise.resolve(true));
    },
    async revokeIdpSession(sid, seconds) {
      await store.put(await key('i', sid), REVOKED, ttl(seconds));
    },
    async revokeSubject(sub, before, seconds) {
      const k = await key('u', sub);
      // Never lower the bar: a late, older logout token must not bring back sessions a newer one ended.
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = await store.get(k);
        if (current !== undefined && Number(current) >= before) return;
        if (await store.compareAndSet(k, current, String(before), ttl(seconds))) return;
      }
    },
    async firstUse(jti, seconds) {
      return store.compareAndSet(await key('j', jti), undefined, REVOKED, ttl(seconds));
    },
    isRevoked(session) {
      const cached = cache.get(session.id);
      if (cached && cached.until > now()) return cached.revoked;
      const revoked = ask(session);
      remember(session.id, revoked);
      // A failed read is not an answer: the next request asks again.
      revoked.catch(() => {
        if (cache.get(session.id)?.revoked === revoked) cache.delete(session.id);
      });
      return revoked;
    },
  };
}

async function webDigest(id: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(id)));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
