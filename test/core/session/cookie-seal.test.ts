import { defaults as ironDefaults, seal as ironSeal, unseal as ironUnseal } from 'iron-webcrypto';
import { describe, expect, it } from 'vitest';
import { nodeUnsealCrypto } from '../../../src/adapters/node/unseal-crypto.js';
import { createSealer, type UnsealCrypto } from '../../../src/core/session/cookie-seal.js';
import { randomSecret } from '../../helpers/config.js';

const T0 = Date.UTC(2026, 0, 1);
const k1 = { id: 'k1', secret: randomSecret() };
const k2 = { id: 'k2', secret: randomSecret() };

// Every case runs with the default Web Crypto primitives and with the Node adapter's node:crypto ones.
describe.each<[string, UnsealCrypto | undefined]>([
  ['Web Crypto', undefined],
  ['node:crypto', nodeUnsealCrypto],
])('createSealer (unsealing with %s)', (_name, unsealCrypto) => {
  it('round-trips a value with its purpose, issue and expiry times', async () => {
    const sealer = createSealer([k1], () => T0, unsealCrypto);
    const sealed = await sealer.seal('at', { t: 'token' }, T0 / 1000 + 60);
    expect(sealed.startsWith('Fe26.2*k1*')).toBe(true);
    expect(sealed).not.toContain('token');
    expect(await sealer.unseal('at', sealed)).toEqual({ data: { t: 'token' }, issuedAt: T0 / 1000, expiresAt: T0 / 1000 + 60 });
  });

  it('never accepts a value sealed for another purpose', async () => {
    const sealer = createSealer([k1], () => T0, unsealCrypto);
    const sealed = await sealer.seal('login', { s: 'state' }, T0 / 1000 + 60);
    expect(await sealer.unseal('at', sealed)).toBeUndefined();
    expect(await sealer.unseal('rt', sealed)).toBeUndefined();
    expect(await sealer.unseal('login', sealed)).toBeDefined();
  });

  it('treats an expired value as absent, using the injected clock', async () => {
    let now = T0;
    const sealer = createSealer([k1], () => now, unsealCrypto);
    const sealed = await sealer.seal('rt', { t: 'x' }, T0 / 1000 + 60);
    now = T0 + 59_000;
    expect(await sealer.unseal('rt', sealed)).toBeDefined();
    now = T0 + 60_000;
    expect(await sealer.unseal('rt', sealed)).toBeUndefined();
  });

  it('rotates keys: the first seals, every key unseals, a retired key no longer does', async () => {
    const old = createSealer([k1], () => T0, unsealCrypto);
    const sealedWithK1 = await old.seal('at', { t: 'a' }, T0 / 1000 + 60);
    const rotated = createSealer([k2, k1], () => T0, unsealCrypto);
    expect(await rotated.unseal('at', sealedWithK1)).toBeDefined();
    expect((await rotated.seal('at', { t: 'a' }, T0 / 1000 + 60)).startsWith('Fe26.2*k2*')).toBe(true);
    const retired = createSealer([k2], () => T0, unsealCrypto);
    expect(await retired.unseal('at', sealedWithK1)).toBeUndefined();
  });

  it('refuses a value whose key id is unknown even if the secret matches', async () => {
    const sealer = createSealer([k1], () => T0, unsealCrypto);
    const sealed = await sealer.seal('at', { t: 'a' }, T0 / 1000 + 60);
    const renamed = createSealer([{ id: 'other', secret: k1.secret }], () => T0, unsealCrypto);
    expect(await renamed.unseal('at', sealed)).toBeUndefined();
  });

  it('treats tampered, truncated and garbage values as absent, never throwing', async () => {
    const sealer = createSealer([k1], () => T0, unsealCrypto);
    const sealed = await sealer.seal('at', { t: 'a' }, T0 / 1000 + 60);
    const flipped = sealed.slice(0, 40) + (sealed[40] === 'A' ? 'B' : 'A') + sealed.slice(41);
    for (const bad of [flipped, sealed.slice(0, -5), sealed + 'x', '', 'Fe26.2*k1*****', 'garbage', '*'.repeat(10), 'x'.repeat(100_000)]) {
      expect(await sealer.unseal('at', bad)).toBeUndefined();
    }
    expect(await sealer.unseal('at', undefined)).toBeUndefined();
  });

  it('derives keys once per key and purpose, however many values it handles', async () => {
    const sealer = createSealer([k1, k2], () => T0, unsealCrypto);
    for (let i = 0; i < 20; i++) {
      await sealer.unseal('at', await sealer.seal('at', { i }, T0 / 1000 + 60));
    }
    expect(sealer.derivations).toBe(1);
    await sealer.seal('rt', {}, T0 / 1000 + 60);
    expect(sealer.derivations).toBe(2);
  });

  it('unseals exactly what iron-webcrypto seals and unseals, and no single-character change of it', async () => {
    // The keys the sealer derives (HKDF as documented in cookie-seal.ts), so iron itself can seal and unseal.
    const ikm = await crypto.subtle.importKey('raw', new TextEncoder().encode(k1.secret), 'HKDF', false, ['deriveBits']);
    const bits = async (info: string) =>
      new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode('edge-token-handler cookie v1'), info: new TextEncoder().encode(info) }, ikm, 256));
    const password = { id: 'k1', encryption: await bits('at/enc'), integrity: await bits('at/mac') };
    const sealer = createSealer([k1], () => T0, unsealCrypto);
    const envelope = { p: 'at', iat: T0 / 1000, exp: T0 / 1000 + 60, d: { t: 'tok\u00e9n \u2603 '.repeat(50) } };
    const byIron = await ironSeal(envelope, password, ironDefaults);
    expect(await sealer.unseal('at', byIron)).toEqual({ data: envelope.d, issuedAt: envelope.iat, expiresAt: envelope.exp });
    const ours = await sealer.seal('at', envelope.d, envelope.exp);
    expect(await ironUnseal(ours, { k1: password }, ironDefaults)).toEqual(envelope);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_*.';
    for (let i = 0; i < ours.length; i++) {
      const swapped = alphabet[(alphabet.indexOf(ours[i]!) + 1 + (i % 7)) % alphabet.length]!;
      const changed = ours.slice(0, i) + swapped + ours.slice(i + 1);
      expect(await sealer.unseal('at', changed), `position ${i}`).toBeUndefined();
    }
  });

  describe('the cache of opened values', () => {
    /** One character of `value` at `i` changed to another of the base64url alphabet. */
    const changeAt = (value: string, i: number) => value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);

    it('answers a second unseal from the cache, with the same data', async () => {
      const sealer = createSealer([k1], () => T0, unsealCrypto);
      const sealed = await sealer.seal('at', { t: 'token' }, T0 / 1000 + 60);
      const first = await sealer.unseal('at', sealed);
      expect(sealer.cached.entries).toBe(1);
      expect(await sealer.unseal('at', sealed)).toBe(first);
      expect(first).toEqual({ data: { t: 'token' }, issuedAt: T0 / 1000, expiresAt: T0 / 1000 + 60 });
      // Shared by every hit, so frozen: no caller can change what the next request reads.
      expect(Object.isFrozen(first!.data)).toBe(true);
    });

    it('refuses a tampered value beside a cached one: a flipped ciphertext byte, a changed MAC, anything after the MAC', async () => {
      const sealer = createSealer([k1], () => T0, unsealCrypto);
      const sealed = await sealer.seal('at', { t: 'token' }, T0 / 1000 + 60);
      expect(await sealer.unseal('at', sealed)).toBeDefined();
      const ciphertextAt = sealed.split('*').slice(0, 4).join('*').length + 1;
      const macAt = sealed.length - 43;
      for (const bad of [changeAt(sealed, ciphertextAt + 3), changeAt(sealed, macAt + 5), sealed + 'A', sealed + '*', ' ' + sealed, sealed.slice(0, -1)]) {
        expect(await sealer.unseal('at', bad)).toBeUndefined();
      }
      // Nothing that failed was kept.
      expect(sealer.cached.entries).toBe(1);
    });

    it('checks the expiry again on a hit, by the injected clock, and drops the entry', async () => {
      let now = T0;
      const sealer = createSealer([k1], () => now, unsealCrypto);
      const sealed = await sealer.seal('rt', { t: 'x' }, T0 / 1000 + 60);
      expect(await sealer.unseal('rt', sealed)).toBeDefined();
      now = T0 + 60_000;
      expect(await sealer.unseal('rt', sealed)).toBeUndefined();
      expect(sealer.cached.entries).toBe(0);
    });

    it('never opens a cached value as another purpose', async () => {
      const sealer = createSealer([k1], () => T0, unsealCrypto);
      const sealed = await sealer.seal('id', { c: {} }, T0 / 1000 + 60);
      expect(await sealer.unseal('id', sealed)).toBeDefined();
      for (const other of ['at', 'rt', 'login'] as const) expect(await sealer.unseal(other, sealed)).toBeUndefined();
      expect(await sealer.unseal('id', sealed)).toBeDefined();
    });

    it('holds at most maxEntries values, oldest out first', async () => {
      const sealer = createSealer([k1], () => T0, unsealCrypto, { maxEntries: 3, maxBytes: 1 << 20 });
      const values = await Promise.all([0, 1, 2, 3, 4].map((i) => sealer.seal('at', { i }, T0 / 1000 + 60)));
      for (const v of values) expect(await sealer.unseal('at', v)).toBeDefined();
      expect(sealer.cached.entries).toBe(3);
      // The two oldest were evicted: they still open (by the full unseal), and come back in.
      expect(await sealer.unseal('at', values[0])).toEqual(expect.objectContaining({ data: { i: 0 } }));
      expect(sealer.cached.entries).toBe(3);
    });

    it('holds at most maxBytes, counted as twice each sealed length, and never keeps a value larger than that', async () => {
      const sealer = createSealer([k1], () => T0, unsealCrypto, { maxEntries: 100, maxBytes: 2000 });
      const small = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => sealer.seal('at', { i }, T0 / 1000 + 60)));
      for (const v of small) await sealer.unseal('at', v);
      expect(sealer.cached.bytes).toBeLessThanOrEqual(2000);
      expect(sealer.cached.entries).toBe(Math.floor(2000 / (small[0]!.length * 2)));
      expect(sealer.cached.bytes).toBe(sealer.cached.entries * small[0]!.length * 2);
      const large = await sealer.seal('at', { t: 'x'.repeat(2000) }, T0 / 1000 + 60);
      expect(await sealer.unseal('at', large)).toBeDefined();
      expect(sealer.cached.bytes).toBeLessThanOrEqual(2000);
    });

    it('keeps nothing when it is off', async () => {
      const sealer = createSealer([k1], () => T0, unsealCrypto, false);
      const sealed = await sealer.seal('at', { t: 'a' }, T0 / 1000 + 60);
      expect(await sealer.unseal('at', sealed)).toBeDefined();
      expect(sealer.cached).toEqual({ entries: 0, bytes: 0 });
    });

    it('survives no key rotation: a value cached under a retired key opens in no sealer of the new key set', async () => {
      const old = createSealer([k1], () => T0, unsealCrypto);
      const sealedWithK1 = await old.seal('at', { t: 'a' }, T0 / 1000 + 60);
      expect(await old.unseal('at', sealedWithK1)).toBeDefined();
      expect(old.cached.entries).toBe(1);
      const retired = createSealer([k2], () => T0, unsealCrypto);
      expect(await retired.unseal('at', sealedWithK1)).toBeUndefined();
      expect(retired.cached.entries).toBe(0);
    });
  });
});
