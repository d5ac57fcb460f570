/**
 * Sealing of cookie values with iron-webcrypto (AES-256-CBC + HMAC-SHA256, encrypt-then-MAC).
 *
 * Each configured secret is stretched once per isolate with HKDF into separate encryption and
 * integrity keys per purpose (`at`, `rt`, `id`, `login`), so a value sealed for one purpose fails
 * its MAC when presented as another. The payload also names its purpose and carries its own issue
 * and expiry times, checked against the injected clock. The key id travels in the sealed value, so
 * the first key seals and every configured key unseals (rotation without logging anyone out).
 *
 * Opened values are kept in a bounded cache of the sealer (see UnsealCache), so a session's cookie
 * costs its MAC and decryption once per process or isolate, not on every request.
 */
import { defaults as ironDefaults, seal as ironSeal } from 'iron-webcrypto';
import { noMetrics, type Metrics } from '../ports.js';
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
  /** The cache of opened values now: entries and counted bytes (zero when it is off). */
  readonly cached: { readonly entries: number; readonly bytes: number };
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

/** The bounds of the cache of opened values; `false` turns it off (for comparisons). */
export interface UnsealCacheBounds {
  /** At most this many opened values. */
  readonly maxEntries: number;
  /** At most this many bytes, counted as twice each sealed value's length (the key, and the opened data, which is shorter). */
  readonly maxBytes: number;
}

/** ~1,000 sessions' three cookies in at most 8 MiB: a warm Lambda container or isolate holds far fewer. */
export const DEFAULT_UNSEAL_CACHE: UnsealCacheBounds = { maxEntries: 4096, maxBytes: 8 * 1024 * 1024 };

interface Opened {
  readonly purpose: SealPurpose;
  readonly result: { data: unknown; issuedAt: number; expiresAt: number };
  readonly bytes: number;
}

/**
 * Values that opened, keyed by the whole sealed string: a hit is the exact value whose MAC,
 * decryption, purpose and expiry were checked (any other byte is another key, and a miss). Filled
 * only after every check passed; the expiry is checked again on each hit; evicted oldest first
 * (insertion order: a hit costs one Map lookup, and an evicted session costs one unseal again).
 * It lives inside one sealer, so a new key set (a new sealer) starts empty. Everything above the
 * sealer (session-cookies.ts's session-id checks, any revocation check) still runs on every hit.
 */
class UnsealCache {
  private readonly entries = new Map<string, Opened>();
  private bytes = 0;
  constructor(private readonly bounds: UnsealCacheBounds) {}

  get size(): number {
    return this.entries.size;
  }
  get byteCount(): number {
    return this.bytes;
  }
  get(value: string): Opened | undefined {
    return this.entries.get(value);
  }
  delete(value: string): void {
    const entry = this.entries.get(value);
    if (!entry) return;
    this.entries.delete(value);
    this.bytes -= entry.bytes;
  }
  set(value: string, purpose: SealPurpose, result: Opened['result']): void {
    const bytes = value.length * 2;
    if (bytes > this.bounds.maxBytes || this.bounds.maxEntries < 1) return;
    this.delete(value);
    this.entries.set(value, { purpose, result, bytes });
    this.bytes += bytes;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.bounds.maxEntries && this.bytes <= this.bounds.maxBytes) break;
      this.delete(oldest);
    }
  }
}

/** Opened data is shared by every hit: frozen, so no caller can change what the next request reads. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** The default: Web Crypto, with the keys imported once. */
const webUnseal = {
  verify: (keys: DerivedKey, mac: Uint8Array, data: Uint8Array) => crypto.subtle.verify('HMAC', keys.verify, mac as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>),
  decrypt: async (keys: DerivedKey, iv: Uint8Array, data: Uint8Array) =>
    new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: iv as Uint8Array<ArrayBuffer> }, keys.decrypt, data as Uint8Array<ArrayBuffer>)),
};

/**
 * `cacheBounds` bounds the cache of opened values (false: none); `metrics` counts the values that
 * do not open (`unseal_failures`, by purpose and reason; an absent value is no failure).
 */
export function createSealer(
  keys: readonly CookieKey[],
  now: () => number,
  unsealCrypto?: UnsealCrypto,
  cacheBounds: UnsealCacheBounds | false = DEFAULT_UNSEAL_CACHE,
  metrics: Metrics = noMetrics,
): Sealer {
  const primitives = unsealCrypto
    ? {
        verify: (k: DerivedKey, mac: Uint8Array, data: Uint8Array) => unsealCrypto.verifyHmacSha256(k.integrity, mac, data),
        decrypt: (k: DerivedKey, iv: Uint8Array, data: Uint8Array) => unsealCrypto.decryptAes256Cbc(k.encryption, iv, data),
      }
    : webUnseal;
  if (keys.length === 0) throw new Error('createSealer needs at least one key');
  const byId = new Map(keys.map((k) => [k.id, k]));
  const cache = new Map<string, Promise<DerivedKey>>();
  const opened = cacheBounds ? new UnsealCache(cacheBounds) : undefined;
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
    get cached() {
      return { entries: opened?.size ?? 0, bytes: opened?.byteCount ?? 0 };
    },
    async seal(purpose, data, expiresAt) {
      const derived = await derive(sealingKey, purpose);
      const envelope: SealedEnvelope<typeof data> = { p: purpose, iat: Math.floor(now() / 1000), exp: Math.floor(expiresAt), d: data };
      return ironSeal(envelope, { id: sealingKey.id, encryption: derived.encryption, integrity: derived.integrity }, ironDefaults);
    },
    async unseal(purpose, value) {
      if (!value) return undefined;
      // `why` is a metric label, not a log reason of core/errors.ts.
      const failed = (why: string) => {
        metrics.count('unseal_failures', { purpose, reason: why });
        return undefined;
      };
      const hit = opened?.get(value);
      if (hit) {
        // The same string opened before under its own purpose; it never opens as another one. Each
        // purpose has its own keys, so unopened it would fail its MAC: counted the same way.
        if (hit.purpose !== purpose) return failed('tampered');
        if (hit.result.expiresAt * 1000 > now()) return hit.result as never;
        opened!.delete(value);
        return failed('expired');
      }
      if (value.length > MAX_SEALED_LENGTH || !SEALED_FORMAT.test(value)) return failed('malformed');
      const keyId = value.split('*', 3)[1];
      const key = keyId === undefined ? undefined : byId.get(keyId);
      if (!key) return failed('unknown_key');
      try {
        const derived = await derive(key, purpose);
        const envelope = (await openSealed(value, derived, primitives)) as Partial<SealedEnvelope<unknown>>;
        if (!envelope || typeof envelope !== 'object' || envelope.p !== purpose) return failed('wrong_purpose');
        if (typeof envelope.exp !== 'number' || typeof envelope.iat !== 'number') return failed('malformed');
        if (envelope.exp * 1000 <= now()) return failed('expired');
        const result = deepFreeze({ data: envelope.d as never, issuedAt: envelope.iat, expiresAt: envelope.exp });
        opened?.set(value, purpose, result);
        return result;
      } catch {
        // Tampered, truncated or malformed: treated exactly like an absent cookie.
        return failed('tampered');
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
