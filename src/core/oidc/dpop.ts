/**
 * DPoP (RFC 9449): the session's key pair, the proofs that show the token handler holds it, the
 * servers' nonces and their challenges. Web APIs and jose only.
 *
 * Key custody (security-requirements DP-03): one ES256 key pair per session, made at login. Its
 * private half lives only sealed inside the session's access-token cookie (see
 * session-cookies.ts), so any instance can sign for any session, and no store is needed; imported
 * keys are kept per instance in a small bounded cache, since importing costs more than signing.
 */
import { base64url, calculateJwkThumbprint } from 'jose';
import type { Clock } from '../ports.js';

/** The session's key as it is sealed in its cookie: a P-256 private JWK's members (base64url, 43 characters each). */
export interface DpopKeyData {
  readonly x: string;
  readonly y: string;
  readonly d: string;
}

/** What one proof is for (RFC 9449 §4.2). */
export interface ProofClaims {
  /** The request's method. */
  readonly htm: string;
  /** The URL the request goes to; its query and fragment are left out of `htu`. */
  readonly url: string;
  /** The access token presented with the proof, hashed into `ath` (§4.2, §7.1). */
  readonly accessToken?: string;
  /** The server's nonce, when it gave one (§8, §9). */
  readonly nonce?: string;
}

export interface DpopKeys {
  /** The proof JWT for one request, signed with the session's key. */
  proof(key: DpopKeyData, claims: ProofClaims): Promise<string>;
  /** The key as a CryptoKeyPair (private half not extractable), for oauth4webapi's DPoP handle. */
  keyPair(key: DpopKeyData): Promise<CryptoKeyPair>;
  /** The RFC 7638 thumbprint of the public key, as `cnf.jkt` names it. */
  thumbprint(key: DpopKeyData): Promise<string>;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const MEMBER = /^[A-Za-z0-9_-]{43}$/;
/** Imported keys kept per instance: enough for the sessions active at once on one instance. */
const KEY_CACHE_SIZE = 1000;
const encoder = new TextEncoder();

/** A new key for a session (ES256, made with Web Crypto). */
export async function generateDpopKey(): Promise<DpopKeyData> {
  const pair = await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  return { x: jwk.x!, y: jwk.y!, d: jwk.d! };
}

/** Whether `value` is a key as generateDpopKey makes it (what a session cookie may hold). */
export function isDpopKeyData(value: unknown): value is DpopKeyData {
  if (!value || typeof value !== 'object') return false;
  const { x, y, d } = value as Record<string, unknown>;
  return typeof x === 'string' && typeof y === 'string' && typeof d === 'string' && MEMBER.test(x) && MEMBER.test(y) && MEMBER.test(d);
}

/** `htu` (RFC 9449 §4.2): the request's URL as it is sent, without query and fragment. */
export function htuOf(url: string): string {
  const parsed = new URL(url);
  return parsed.origin + parsed.pathname;
}

interface LoadedKey {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The proof's protected header, encoded once: `typ`, `alg` and the public `jwk` only. */
  readonly header: string;
  /** The last token hashed for this key, and its `ath`: a session presents the same token many times. */
  ath?: { readonly token: string; readonly value: string };
}

export function createDpopKeys(now: Clock): DpopKeys {
  const cache = new Map<string, Promise<LoadedKey>>();

  const load = (key: DpopKeyData): Promise<LoadedKey> => {
    // Keyed by the private member itself, so a hit is always the very same key.
    let loaded = cache.get(key.d);
    if (loaded) {
      // Least recently used goes first.
      cache.delete(key.d);
      cache.set(key.d, loaded);
      return loaded;
    }
    loaded = (async () => {
      const publicJwk = { kty: 'EC', crv: 'P-256', x: key.x, y: key.y };
      const [privateKey, publicKey] = await Promise.all([
        crypto.subtle.importKey('jwk', { ...publicJwk, d: key.d }, ALGORITHM, false, ['sign']),
        // oauth4webapi's DPoP handle reads the public key's JWK itself.
        crypto.subtle.importKey('jwk', publicJwk, ALGORITHM, true, ['verify']),
      ]);
      const header = base64url.encode(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk }));
      return { privateKey, publicKey, header };
    })();
    loaded.catch(() => cache.delete(key.d));
    cache.set(key.d, loaded);
    if (cache.size > KEY_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return loaded;
  };

  const athOf = async (loaded: LoadedKey, token: string): Promise<string> => {
    if (loaded.ath?.token === token) return loaded.ath.value;
    const value = base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(token))));
    loaded.ath = { token, value };
    return value;
  };

  return {
    async proof(key, claims) {
      const loaded = await load(key);
      const payload = {
        // 122 random bits: unique per proof, so a server can refuse a replayed one (§11.1).
        jti: crypto.randomUUID(),
        htm: claims.htm,
        htu: htuOf(claims.url),
        iat: Math.floor(now() / 1000),
        ...(claims.accessToken !== undefined ? { ath: await athOf(loaded, claims.accessToken) } : {}),
        ...(claims.nonce !== undefined ? { nonce: claims.nonce } : {}),
      };
      const input = `${loaded.header}.${base64url.encode(JSON.stringify(payload))}`;
      // Web Crypto's ECDSA signature is r || s, as JWS wants it (RFC 7518 §3.4).
      const signature = new Uint8Array(await crypto.subtle.sign(SIGN, loaded.privateKey, encoder.encode(input)));
      return `${input}.${base64url.encode(signature)}`;
    },
    async keyPair(key) {
      const { privateKey, publicKey } = await load(key);
      return { privateKey, publicKey };
    },
    thumbprint: (key) => calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y }),
  };
}

/** RFC 9449 §8.1: `nonce = 1*NQCHAR`; longer ones than this are refused rather than signed into every proof. */
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]{1,512}$/;

/** The servers' nonces, by origin, for the next proof to each (§8, §9). Bounded: the oldest origin is forgotten first. */
export interface NonceMemory {
  get(origin: string): string | undefined;
  /** Keeps the `DPoP-Nonce` an answer carried, if it is a valid nonce; returns it, or undefined. */
  learn(origin: string, header: string | null): string | undefined;
}

export function createNonceMemory(limit = 100): NonceMemory {
  const nonces = new Map<string, string>();
  return {
    get: (origin) => nonces.get(origin),
    learn(origin, header) {
      if (header === null || !NONCE.test(header)) return undefined;
      nonces.delete(origin);
      nonces.set(origin, header);
      if (nonces.size > limit) nonces.delete(nonces.keys().next().value!);
      return header;
    },
  };
}

/** The challenges of a `WWW-Authenticate` value (RFC 9110 §11.6.1): schemes lower-cased, parameter names too. */
export function parseChallenges(header: string): { scheme: string; params: Map<string, string> }[] {
  const challenges: { scheme: string; params: Map<string, string> }[] = [];
  const token = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i]!)) i++;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    token.lastIndex = i;
    const name = token.exec(header)?.[0];
    if (!name) return challenges;
    i += name.length;
    skip(/[ \t]/);
    if (header[i] !== '=') {
      challenges.push({ scheme: name.toLowerCase(), params: new Map() });
      continue;
    }
    // `name=`: a parameter of the current challenge, or a token68 (ends in `=`) to ignore.
    i++;
    skip(/[ \t]/);
    let value: string;
    if (header[i] === '"') {
      value = '';
      for (i++; i < header.length && header[i] !== '"'; i++) value += header[i] === '\\' ? (header[++i] ?? '') : header[i];
      i++;
    } else {
      token.lastIndex = i;
      value = token.exec(header)?.[0] ?? '';
      i += value.length;
    }
    challenges.at(-1)?.params.set(name.toLowerCase(), value);
  }
  return challenges;
}

/** A resource server's nonce challenge (RFC 9449 §9): a `DPoP` challenge, in any letter case, with `error="use_dpop_nonce"`. */
export function isUseDpopNonce(wwwAuthenticate: string | null): boolean {
  if (!wwwAuthenticate) return false;
  return parseChallenges(wwwAuthenticate).some((c) => c.scheme === 'dpop' && c.params.get('error') === 'use_dpop_nonce');
}
