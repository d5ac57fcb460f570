// The example API's DPoP check (RFC 9449 §4.3 and §7.1), as a resource server must make it: one
// proof, typed `dpop+jwt`, an asymmetric `alg`, a public `jwk` whose signature verifies and whose
// thumbprint is the access token's `cnf.jkt`, the request's method and URL, a recent `iat`, the
// token's hash in `ath`, the server's nonce when it asks for one, and a `jti` never seen before.

import { createHash, randomBytes } from 'node:crypto';
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';

export type DpopVerifierOptions = {
  /** Demand the API's nonce in every proof (a proof without it is answered `use_dpop_nonce`). */
  requireNonce?: boolean;
  /** How old a proof's `iat` may be, in seconds (default 60); `jti`s are remembered that long. */
  maxAge?: number;
  /** Milliseconds since the epoch (default Date.now). */
  now?: () => number;
};

export type DpopProofCheck = {
  /** The request's method. */
  method: string;
  /** The URL the request arrived at. */
  url: string;
  /** The DPoP header as received (null when absent). */
  proof: string | null;
  /** The access token presented with it. */
  accessToken: string;
  /** The access token's `cnf.jkt`. */
  jkt: unknown;
};

export type DpopResult = { ok: true } | { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; description: string };

/** Asymmetric algorithms only: never `none`, never a MAC (RFC 9449 §4.3 step 5). */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'EdDSA', 'Ed25519'];
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** Leeway for a proof's `iat` ahead of this clock. */
const FUTURE_LEEWAY_SECONDS = 5;
/** Replay memory bound: beyond this many `jti`s in the window, the oldest are forgotten. */
const MAX_REMEMBERED = 100_000;

export function createDpopVerifier(options: DpopVerifierOptions = {}) {
  const maxAge = options.maxAge ?? 60;
  const now = () => Math.floor((options.now ?? Date.now)() / 1000);
  const nonce = randomBytes(16).toString('base64url');
  const seen = new Map<string, number>();
  const refuse = (description: string): DpopResult => ({ ok: false, error: 'invalid_dpop_proof', description });

  const remember = (jti: string, until: number) => {
    const t = now();
    for (const [key, expires] of seen) {
      if (expires > t && seen.size < MAX_REMEMBERED) break;
      seen.delete(key);
    }
    seen.set(jti, until);
  };

  return {
    /** The nonce this API asks for (RFC 9449 §9), sent as `DPoP-Nonce`. */
    nonce: () => nonce,

    async check(request: DpopProofCheck): Promise<DpopResult> {
      const { proof } = request;
      if (!proof) return refuse('DPoP proof missing');
      // Several DPoP header lines arrive joined by commas, which a compact JWS never holds.
      if (proof.includes(',')) return refuse('more than one DPoP proof');
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(proof);
      } catch {
        return refuse('DPoP proof is not a JWT');
      }
      if (header.typ !== 'dpop+jwt') return refuse('DPoP proof typ must be dpop+jwt');
      if (typeof header.alg !== 'string' || !DPOP_ALGORITHMS.includes(header.alg)) return refuse('DPoP proof alg not allowed');
      const jwk = header.jwk as JWK | undefined;
      if (!jwk || typeof jwk !== 'object') return refuse('DPoP proof has no jwk');
      if (PRIVATE_MEMBERS.some((member) => member in jwk)) return refuse('DPoP proof jwk holds a private key');

      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGORITHMS }));
      } catch {
        return refuse('DPoP proof signature invalid');
      }
      if ((await calculateJwkThumbprint(jwk)) !== request.jkt) return refuse('DPoP proof key is not the one the access token is bound to');
      if (payload['htm'] !== request.method) return refuse('DPoP proof htm mismatch');
      if (typeof payload['htu'] !== 'string' || !sameTarget(payload['htu'], request.url)) return refuse('DPoP proof htu mismatch');
      const iat = payload['iat'];
      const t = now();
      if (typeof iat !== 'number' || iat < t - maxAge || iat > t + FUTURE_LEEWAY_SECONDS) return refuse('DPoP proof iat outside the accepted window');
      if (payload['ath'] !== createHash('sha256').update(request.accessToken).digest('base64url')) return refuse('DPoP proof ath mismatch');
      if (options.requireNonce && payload['nonce'] !== nonce) {
        return { ok: false, error: 'use_dpop_nonce', description: 'Resource server requires nonce in DPoP proof' };
      }
      const jti = payload['jti'];
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) return refuse('DPoP proof jti invalid');
      if (seen.has(jti)) return refuse('DPoP proof replayed');
      remember(jti, iat + maxAge);
      return { ok: true };
    },
  };
}

/** `htu` against the URL the request arrived at, both without query and fragment, after the URL parser's normalisation (RFC 9449 §4.3 step 9). */
function sameTarget(htu: string, url: string): boolean {
  try {
    const a = new URL(htu);
    const b = new URL(url);
    return a.origin === b.origin && a.pathname === b.pathname;
  } catch {
    return false;
  }
}
