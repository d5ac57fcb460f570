/**
 * Sealing of cookie values with iron-webcrypto (AES-256-CBC + HMAC-SHA256, encrypt-then-MAC).
 *
 * Each configured secret is stretched once per isolate with HKDF into separate encryption and
 * integrity keys per purpose (`at`, `rt`, `id`, `login`), so a value sealed for one purpose fails
 * its MAC when presented as another. The payload also names its purpose and carries its own issue
 * and expiry times, checked against the injected clock. The key id travels in the sealed value, so
 * the first key seals and every configured key unseals (rotation without logging anyone out).
 */
import { defaults as ironDefaults, seal as ironSeal } from 'iron-webcrypto';
import type { CookieKey } from '../types.js';

/** A cookie's purpose, or `refresh`: a coordinated refresh's result kept in the session store (contract §6.1). */
export type SealPurpose = 'at' | 'rt' | 'id' | 'login' | 'refresh';

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
  /** The same keys imported once for unsealing: iron would import them again on every call. */
  readonly decrypt: CryptoKey;
  readonly verify: CryptoKey;
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

/**
 * The two primitives unsealing needs, for a platform with cheaper ones than Web Crypto (Node:
 * node:crypto, synchronous; there every Web Crypto call is a round trip through the thread pool,
 * which in a busy server costs several times the work itself). Keys are the raw 32-byte keys.
 */
export interface UnsealCrypto {
  /** Whether `mac` is the HMAC-SHA256 of `data` under `key`, compared in constant time. */
  verifyHmacSha256(key: Uint8Array, mac: Uint8Array, data: Uint8Array): boolean | Promise<boolean>;
  /** AES-256-CBC decryption with PKCS#7 padding; throws on a bad key, IV or padding. */
  decryptAes256Cbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** The default: Web Crypto, with the keys imported once. */
const webUnseal = {
  verify: (keys: DerivedKey, mac: Uint8Array, data: Uint8Array) => crypto.subtle.verify('HMAC', keys.verify, mac as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>),
  decrypt: async (keys: DerivedKey, iv: Uint8Array, data: Uint8Array) =>
    new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: iv as Uint8Array<ArrayBuffer> }, keys.decrypt, data as Uint8Array<ArrayBuffer>)),
};

export function createSealer(keys: readonly CookieKey[], now: () => number, unsealCrypto?: UnsealCrypto): Sealer {
  const primitives = unsealCrypto
    ? {
        verify: (k: DerivedKey, mac: Uint8Array, data: Uint8Array) => unsealCrypto.verifyHmacSha256(k.integrity, mac, data),
        decrypt: (k: DerivedKey, iv: Uint8Array, data: Uint8Array) => unsealCrypto.decryptAes256Cbc(k.encryption, iv, data),
      }
    : webUnseal;
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
        const encryption = await bits('enc');
        const integrity = await bits('mac');
        return {
          encryption,
          integrity,
          decrypt: await crypto.subtle.importKey('raw', encryption, { name: 'AES-CBC', length: 256 }, false, ['decrypt']),
          verify: await crypto.subtle.importKey('raw', integrity, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['verify']),
        };
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
      return ironSeal(envelope, { id: sealingKey.id, encryption: derived.encryption, integrity: derived.integrity }, ironDefaults);
    },
    async unseal(purpose, value) {
      if (!value || value.length > MAX_SEALED_LENGTH || !SEALED_FORMAT.test(value)) return undefined;
      const keyId = value.split('*', 3)[1];
      const key = keyId === undefined ? undefined : byId.get(keyId);
      if (!key) return undefined;
      try {
        const derived = await derive(key, purpose);
        const envelope = (await openSealed(value, derived, primitives)) as Partial<SealedEnvelope<unknown>>;
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

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * iron's unseal for the one shape `seal` produces (checked by SEALED_FORMAT before this runs), with
 * keys imported once: the MAC (HMAC-SHA256 over everything before `**<mac>`, compared in constant
 * time) is verified before anything is decrypted; then AES-256-CBC and JSON. Same primitives and
 * order as iron-webcrypto 2.0's unseal (tested against it), at a fraction of the cost per request:
 * iron imports both keys and decodes base64 in slow JavaScript every time.
 */
async function openSealed(
  value: string,
  keys: DerivedKey,
  primitives: { verify(k: DerivedKey, mac: Uint8Array, data: Uint8Array): boolean | Promise<boolean>; decrypt(k: DerivedKey, iv: Uint8Array, data: Uint8Array): Uint8Array | Promise<Uint8Array> },
): Promise<unknown> {
  const parts = value.split('*');
  const mac = parts[7]!;
  const macBase = value.slice(0, value.length - mac.length - 2);
  if (!(await primitives.verify(keys, base64UrlDecode(mac), encoder.encode(macBase)))) throw new Error('bad mac');
  const plain = await primitives.decrypt(keys, base64UrlDecode(parts[3]!), base64UrlDecode(parts[4]!));
  return JSON.parse(decoder.decode(plain));
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SEXTET = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64URL.length; i++) SEXTET[BASE64URL.charCodeAt(i)] = i;

/** Unpadded base64url to bytes; throws on any other character or an impossible length. */
function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> {
  if (text.length % 4 === 1) throw new Error('bad base64url length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let buffer = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const sextet = code < 128 ? SEXTET[code]! : -1;
    if (sextet < 0) throw new Error('bad base64url character');
    buffer = ((buffer << 6) | sextet) & 0x3fff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}
