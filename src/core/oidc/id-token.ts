/**
 * The ID token (OIDC Core §3.1.3.7): always verified against the issuer's key set, even from the
 * token endpoint where OIDC Core lets a client skip it, plus the rules only an ID token has: the
 * nonce of this login, `at_hash` binding the access token, `azp` naming us, a sane `sub`, and the
 * same `sub` after a refresh (§12.2).
 */
import type { JWTPayload } from 'jose';
import type { Config } from '../types.js';
import { TokenHandlerError, type IdTokenFailure } from '../errors.js';
import { JWT_INVALID_DETAIL, type JwtProfile, type JwtValidator } from './jwt-validation.js';

const MAX_ID_TOKEN_LENGTH = 16 * 1024;
/** Other kinds of JWT an IdP signs with the same keys; none of them is an ID token (RFC 8725 §3.11). */
export const FOREIGN_JWT_TYPES = ['logout+jwt', 'at+jwt', 'dpop+jwt', 'token-introspection+jwt', 'secevent+jwt', 'client-authentication+jwt', 'jwt-bearer'];

export interface IdTokenExpectations {
  /** The nonce of this login (the code exchange). */
  readonly nonce?: string;
  /** The session's subject (a refresh). */
  readonly sub?: string;
  /** The access token that came with it, for `at_hash`. */
  readonly accessToken?: string;
}

export interface IdTokenValidator {
  /** Verifies an ID token and the project's claim rules; throws `invalid_request` with `id_token_…` reasons. */
  validate(idToken: string, expected: IdTokenExpectations): Promise<JWTPayload>;
}

export function idTokenProfile(config: Config): JwtProfile {
  return {
    kind: 'id_token',
    maxLength: MAX_ID_TOKEN_LENGTH,
    algorithms: config.idTokenSigningAlgs,
    typ: { forbidden: FOREIGN_JWT_TYPES },
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
  };
}

export function createIdTokenValidator(config: Config, jwt: JwtValidator): IdTokenValidator {
  const profile = idTokenProfile(config);
  const invalid = (failure: IdTokenFailure) =>
    new TokenHandlerError('invalid_request', { reason: `id_token_${failure}`, detail: JWT_INVALID_DETAIL.id_token });
  return {
    async validate(idToken, expected) {
      const { header, payload } = await jwt.verify(idToken, profile);
      if (payload.azp !== undefined && payload.azp !== config.clientId) throw invalid('azp_mismatch');
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) throw invalid('bad_sub');
      if (expected.nonce !== undefined && payload['nonce'] !== expected.nonce) throw invalid('nonce_mismatch');
      if (expected.sub !== undefined && payload.sub !== expected.sub) throw invalid('sub_changed');
      // OIDC Core 3.1.3.8 makes at_hash optional in the code flow; when the IdP sends one it must bind this access token.
      if (payload['at_hash'] !== undefined && expected.accessToken !== undefined) {
        if (payload['at_hash'] !== (await tokenHash(expected.accessToken, header.alg))) throw invalid('at_hash_mismatch');
      }
      return payload;
    },
  };
}

/** `at_hash` (OIDC Core 3.1.3.6): the left half of the access token's hash under the ID token's algorithm's hash. */
async function tokenHash(token: string, alg: string | undefined): Promise<string> {
  const bits = /384$/.test(alg ?? '') ? 384 : /512$/.test(alg ?? '') || alg === 'EdDSA' || alg === 'Ed25519' ? 512 : 256;
  const digest = new Uint8Array(await crypto.subtle.digest(`SHA-${bits}`, new TextEncoder().encode(token)));
  let binary = '';
  for (const byte of digest.subarray(0, digest.length / 2)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
