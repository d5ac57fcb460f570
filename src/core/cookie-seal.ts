/**
 * Sealing of cookie values with iron-webcrypto (AES-256-CBC + HMAC-SHA256, encrypt-then-MAC).
 *
 * Each configured secret is stretched once per isolate with HKDF into separate encryption and
 * integrity keys per purpose (`at`, `rt`, `id`, `login`), so a value sealed for one purpose fails
 * its MAC when presented as another. The payload also names its purpose and carries its own issue
 * and expiry times, checked against the injected clock. The key id travels in the sealed value, so
 * the first key seals and every configured key unseals (rotation without logging anyone out).
 */
import { defaults as ironDefaults, seal as ironSeal, unseal as ironUnseal } from 'iron-webcrypto';
import type { CookieKey } from '../config/parse-config.js';

export type SealPurpose = 'at' | 'rt' | 'id' | 'login';

export interface SealedEnvelope<T> {
  /** purpose */
  p: SealPurpose;
  /** issued at, epoch seconds */
  iat: number;
  /** expires at, epoch seconds */
  exp: number;
  d: T;
}

export interface Sealer {
  seal<T>(purpose: SealPurpose, data: T, expiresAt: number): Promise<string>;
  /** The data, or undefined when the value is absent, tampered, expired, of another purpose or sealed with an unknown key. */
  unseal<T>(purpose: SealPurpose, value: string | undefined): Promise<{ data: T; issuedAt: number; expiresAt: number } | undefined>;
  /** How many HKDF derivations ran; they happen once per key and purpose per isolate. */
  readonly derivations: number;
}

interface DerivedKey {
  readonly encryption: Uint8Array;
  readonly integrity: Uint8Array;
}

const encoder = new TextEncoder();
const MAX_SEALED_LENGTH = 64 * 1024;
/**
 * The exact shape `seal` produces: `Fe26.2*<id>**<iv>*<ciphertext>***<mac>`. iron ignores its own
 * salt fields when given raw keys and decodes base64 leniently, so without this check a value with
 * text slipped into the empty MAC-salt field, or a different last character of the MAC, would still
 * unseal: a tampered cookie accepted as genuine. One value, one spelling.
 */
const SEALED_FORMAT = /^Fe26\.2\*\w{1,32}\*\*[A-Za-z0-9_-]{21}[AQgw]\*[A-Za-z0-9_-]+\*\*\*[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

export function createSealer(keys: readonly CookieKey[], now: () => number): Sealer {
  if (keys.length === 0) throw new Error('createSealer needs at least one key');
  const byId = new Map(keys.map((k) => [k.id, k]));
  const cache = new Map<string, Promise<DerivedKey>>();
  let derivations = 0;

  const derive = (key: CookieKey, purpose: SealPurpose): Promise<DerivedKey> => {
    const cacheKey = `${key.id}\u0000${purpose}`;
    let derived = cache.get(cacheKey);
    if (!derived) {
      derivations++;
      derived = (async () => {
        const ikm = await crypto.subtle.importKey('raw', encoder.encode(key.secret), 'HKDF', false, ['deriveBits']);
        const bits = async (label: string) =>
          new Uint8Array(
            await crypto.subtle.deriveBits(
              { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('edge-token-handler cookie v1'), info: encoder.encode(`${purpose}/${label}`) },
              ikm,
              256,
            ),
          );
        return { encryption: await bits('enc'), integrity: await bits('mac') };
      })();
      cache.set(cacheKey, derived);
    }
    return derived;
  };

  const sealingKey = keys[0]!;
  return {
    get derivations() {
      return derivations;
    },
    async seal(purpose, data, expiresAt) {
      const derived = await derive(sealingKey, purpose);
      const envelope: SealedEnvelope<typeof data> = { p: purpose, iat: Math.floor(now() / 1000), exp: Math.floor(expiresAt), d: data };
      return ironSeal(envelope, { id: sealingKey.id, ...derived }, ironDefaults);
    },
    async unseal(purpose, value) {
      if (!value || value.length > MAX_SEALED_LENGTH || !SEALED_FORMAT.test(value)) return undefined;
      const keyId = value.split('*', 3)[1];
      const key = keyId === undefined ? undefined : byId.get(keyId);
      if (!key) return undefined;
      try {
        const derived = await derive(key, purpose);
        // iron looks the password up by the id inside the sealed value; give it exactly the one we chose.
        const envelope = (await ironUnseal(value, { [key.id]: { id: key.id, ...derived } }, ironDefaults)) as Partial<SealedEnvelope<unknown>>;
        if (!envelope || typeof envelope !== 'object' || envelope.p !== purpose) return undefined;
        if (typeof envelope.exp !== 'number' || typeof envelope.iat !== 'number') return undefined;
        if (envelope.exp * 1000 <= now()) return undefined;
        return { data: envelope.d as never, issuedAt: envelope.iat, expiresAt: envelope.exp };
      } catch {
        // Tampered, truncated or malformed: treated exactly like an absent cookie.
        return undefined;
      }
    },
  };
}
