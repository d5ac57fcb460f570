/**
 * The introspection cache on its own, with a counting introspector and a frozen clock: keys are
 * hashes of the token, entries end at the earlier of the TTL and the token's exp, the map is
 * bounded in entries and bytes (least recently used out first), failures and inactive answers are
 * not kept, and the shared level (the Cache API on Workers) is read before the IdP and written after.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenHandlerError } from '../../../src/core/errors.js';
import { createCachingIntrospector, type CachedIntrospection, type SharedIntrospectionCache } from '../../../src/core/oidc/introspection-cache.js';
import type { Introspection, Introspector } from '../../../src/core/oidc/introspection.js';

const T0 = 1_800_000_000_000;

function counting(answer: (token: string) => Introspection | Error = (token) => ({ jwt: `jwt-for-${token}`, exp: undefined })) {
  const calls: string[] = [];
  const introspector: Introspector = {
    async introspect(token) {
      calls.push(token);
      const result = answer(token);
      if (result instanceof Error) throw result;
      return result;
    },
  };
  return { introspector, calls };
}

function memoryShared() {
  const store = new Map<string, CachedIntrospection>();
  const shared: SharedIntrospectionCache = {
    get: async (key) => store.get(key),
    put: async (key, entry) => void store.set(key, entry),
  };
  return { shared, store };
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('base64url');

describe('the introspection cache', () => {
  it('keys entries by the SHA-256 of the token (Web Crypto by default), never the token', async () => {
    const { introspector } = counting(() => ({ jwt: 'the-jwt', exp: undefined }));
    const { shared, store } = memoryShared();
    const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => T0, shared });
    await cache.jwtFor('opaque-token-one');
    expect([...store.keys()]).toEqual([sha256('opaque-token-one')]);
    expect(JSON.stringify([...store])).not.toContain('opaque-token-one');
  });

  it('reuses an answer until the TTL, and until exp when that is earlier', async () => {
    let now = T0;
    const { introspector, calls } = counting((token) => ({ jwt: `jwt-${token}`, exp: token === 'short' ? T0 / 1000 + 10 : undefined }));
    const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => now });
    await cache.jwtFor('long');
    await cache.jwtFor('short');
    now = T0 + 9_999;
    await cache.jwtFor('long');
    await cache.jwtFor('short');
    expect(calls).toEqual(['long', 'short']);
    now = T0 + 10_000;
    await cache.jwtFor('short');
    now = T0 + 59_999;
    await cache.jwtFor('long');
    expect(calls).toEqual(['long', 'short', 'short']);
    now = T0 + 60_000;
    await cache.jwtFor('long');
    expect(calls).toEqual(['long', 'short', 'short', 'long']);
  });

  it('keeps nothing with a TTL of 0, or for a token whose exp has passed', async () => {
    const { introspector, calls } = counting((token) => ({ jwt: 'jwt', exp: token === 'expired' ? T0 / 1000 - 1 : undefined }));
    const none = createCachingIntrospector(introspector, { ttlSeconds: 0, now: () => T0 });
    await none.jwtFor('a');
    await none.jwtFor('a');
    expect(none.size.entries).toBe(0);
    const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => T0 });
    await cache.jwtFor('expired');
    await cache.jwtFor('expired');
    expect(cache.size.entries).toBe(0);
    expect(calls).toEqual(['a', 'a', 'expired', 'expired']);
  });

  it('keeps no failure and no inactive answer', async () => {
    let fail = true;
    const { introspector, calls } = counting(() => (fail ? new TokenHandlerError('unauthorized_request', { reason: 'token_inactive' }) : { jwt: 'jwt', exp: undefined }));
    const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => T0 });
    await expect(cache.jwtFor('t')).rejects.toMatchObject({ reason: 'token_inactive' });
    await expect(cache.jwtFor('t')).rejects.toMatchObject({ reason: 'token_inactive' });
    fail = false;
    expect(await cache.jwtFor('t')).toBe('jwt');
    expect(calls).toHaveLength(3);
  });

  it('holds at most maxEntries, dropping the least recently used', async () => {
    const { introspector, calls } = counting();
    const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => T0, maxEntries: 2 });
    await cache.jwtFor('a');
    await cache.jwtFor('b');
    await cache.jwtFor('a'); // a is now the most recent
    await cache.jwtFor('c'); // b goes
    expect(cache.size.entries).toBe(2);
    await cache.jwtFor('a');
    await cache.jwtFor('c');
    expect(calls).toEqual(['a', 'b', 'c']);
    await cache.jwtFor('b');
    expect(calls).toEqual(['a', 'b', 'c', 'b']);
  });

  it('holds at most maxBytes, and never an entry larger than that', async () => {
    const { introspector, calls } = counting((token) => ({ jwt: 'x'.repeat(token === 'huge' ? 5_000 : 400), exp: undefined }));
    const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => T0, maxBytes: 1_000 });
    await cache.jwtFor('a');
    await cache.jwtFor('b');
    expect(cache.size.entries).toBe(2);
    await cache.jwtFor('c');
    expect(cache.size.entries).toBe(2);
    expect(cache.size.bytes).toBeLessThanOrEqual(1_000);
    await cache.jwtFor('huge');
    await cache.jwtFor('huge');
    expect(calls.filter((t) => t === 'huge')).toHaveLength(2);
    expect(cache.size.bytes).toBeLessThanOrEqual(1_000);
    // An entry too large to keep does not push the others out either.
    await cache.jwtFor('b');
    await cache.jwtFor('c');
    expect(calls).toEqual(['a', 'b', 'c', 'huge', 'huge']);
  });

  it('shares one introspection among concurrent calls for a token', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: string[] = [];
    const cache = createCachingIntrospector({ introspect: async (token) => (calls.push(token), await gate, { jwt: 'jwt', exp: undefined }) }, { ttlSeconds: 60, now: () => T0 });
    const answers = Promise.all([cache.jwtFor('t'), cache.jwtFor('t'), cache.jwtFor('t')]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    expect(await answers).toEqual(['jwt', 'jwt', 'jwt']);
    expect(calls).toEqual(['t']);
  });

  describe('with a shared level', () => {
    it('reads it before the IdP, fills the map from it, and writes what the IdP answered', async () => {
      const { introspector, calls } = counting();
      const { shared, store } = memoryShared();
      store.set(sha256('from-elsewhere'), { jwt: 'shared-jwt', expiresAt: T0 + 30_000 });
      const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => T0, shared, digest: sha256 });
      expect(await cache.jwtFor('from-elsewhere')).toBe('shared-jwt');
      expect(cache.size.entries).toBe(1);
      expect(await cache.jwtFor('new')).toBe('jwt-for-new');
      expect(store.get(sha256('new'))).toEqual({ jwt: 'jwt-for-new', expiresAt: T0 + 60_000 });
      expect(calls).toEqual(['new']);
    });

    it('is not read with a TTL of 0: every call asks the IdP', async () => {
      const { introspector, calls } = counting();
      const { shared, store } = memoryShared();
      store.set(sha256('t'), { jwt: 'shared-jwt', expiresAt: T0 + 30_000 });
      const cache = createCachingIntrospector(introspector, { ttlSeconds: 0, now: () => T0, shared, digest: sha256 });
      expect(await cache.jwtFor('t')).toBe('jwt-for-t');
      expect(calls).toEqual(['t']);
    });

    it('ignores an expired shared entry, and a shared level that fails', async () => {
      const { introspector, calls } = counting();
      const { shared, store } = memoryShared();
      store.set(sha256('old'), { jwt: 'stale', expiresAt: T0 });
      const cache = createCachingIntrospector(introspector, { ttlSeconds: 60, now: () => T0, shared });
      expect(await cache.jwtFor('old')).toBe('jwt-for-old');
      const failing = createCachingIntrospector(introspector, {
        ttlSeconds: 60,
        now: () => T0,
        shared: { get: () => Promise.reject(new Error('down')), put: () => Promise.reject(new Error('down')) },
      });
      expect(await failing.jwtFor('x')).toBe('jwt-for-x');
      expect(calls).toEqual(['old', 'x']);
    });
  });
});
