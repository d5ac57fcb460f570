/**
 * Validation of a JWT the IdP signed (an ID token, a back-channel logout token, a signed userinfo
 * response, an introspection JWT): the signature against the issuer's key set with an algorithm allow-list (never `none`, never
 * HMAC keyed with a public key), the key set fetched again once when the `kid` is unknown, `iss`
 * exactly ours, `aud` ours and nobody else's, `exp`/`nbf`/`iat` with the clock skew, the claims its
 * kind needs or must not have, and its `typ` (RFC 8725 §3.11: one kind of JWT is never accepted as
 * another). What differs between kinds is a `JwtProfile`; the rules of one kind only (an ID
 * token's nonce, at_hash, azp) stay with its caller.
 */
import { decodeProtectedHeader, jwtVerify, errors as joseErrors } from 'jose';
import type { JWTHeaderParameters, JWTPayload, JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose';
import { JWT_FAILURES, TokenHandlerError, type JwtFailure, type JwtKind, type JwtReason } from '../errors.js';
import type { Discovery, ServerState } from './discovery.js';

/**
 * The `typ` header rule: exactly `expected`, or anything (also none) but the `forbidden` ones.
 * With `whenPresent`, no `typ` at all passes too. Compared case-insensitively, with or without the `application/` prefix (RFC 7515 §4.1.9).
 */
export type TypRule = { readonly expected: string; readonly whenPresent?: boolean } | { readonly forbidden: readonly string[] };

/** What one kind of JWT must look like. */
export interface JwtProfile {
  /** Names the kind in reasons (`id_token_…`) and in the answer's `detailed_error`. */
  readonly kind: JwtKind;
  /** Longer tokens are refused before anything is parsed. */
  readonly maxLength: number;
  /** The `alg` values accepted; asymmetric only. */
  readonly algorithms: readonly string[];
  readonly typ: TypRule;
  /** Claims that must be present. */
  readonly requiredClaims: readonly string[];
  /** Claims that must be absent (a logout token's `nonce`). */
  readonly forbiddenClaims?: readonly string[];
  /** Claims of which at least one must be a non-empty string (a logout token's `sub` or `sid`). */
  readonly oneOfClaims?: readonly string[];
  /**
   * Whose `aud` it names: our client id (the default), or another party's that checks it itself
   * (a phantom token meant for the API), when `aud` is not checked here.
   */
  readonly audience?: 'client' | 'other';
}

export interface VerifiedJwt {
  readonly header: JWTHeaderParameters;
  readonly payload: JWTPayload;
}

export interface JwtValidator {
  /**
   * Verifies `token` under `profile` and returns its header and claims. Throws `invalid_request`
   * with reason `<kind>_<failure>` when the token is bad, and `authorization_server_error`
   * (`jwks_unavailable`, 502) when the IdP's key set cannot be loaded: that is the IdP's fault.
   */
  verify(token: string, profile: JwtProfile): Promise<VerifiedJwt>;
}

export interface JwtValidatorOptions {
  /** The only `iss` accepted. */
  readonly issuer: string;
  /** The only `aud` accepted: our client id. */
  readonly audience: string;
  /** Seconds of leeway for `exp`, `nbf` and `iat`. */
  readonly clockSkew: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Where the key set comes from. */
  readonly discovery: Discovery;
}

/** The `detailed_error` of a refused JWT, by kind. */
export const JWT_INVALID_DETAIL: Record<JwtKind, string> = {
  id_token: 'The ID token is invalid',
  logout_token: 'The logout token is invalid',
  introspection_jwt: 'The authorization server sent an invalid token',
  userinfo_jwt: 'The signed userinfo response is invalid',
};

/** The error for a refused JWT of `kind`. */
export function jwtInvalid(kind: JwtKind, failure: JwtFailure, cause?: unknown): TokenHandlerError {
  const reason: JwtReason = `${kind}_${failure}`;
  return new TokenHandlerError('invalid_request', { reason, detail: JWT_INVALID_DETAIL[kind], ...(cause !== undefined ? { cause } : {}) });
}

export function createJwtValidator(options: JwtValidatorOptions): JwtValidator {
  const { discovery } = options;
  return {
    async verify(token, profile) {
      const invalid = (failure: JwtFailure, cause?: unknown) => jwtInvalid(profile.kind, failure, cause);
      if (token.length > profile.maxLength) throw invalid('too_large');
      let header: ProtectedHeaderParameters;
      try {
        header = decodeProtectedHeader(token);
      } catch (cause) {
        throw invalid('malformed', cause);
      }
      if (!typAllowed(header.typ, profile.typ)) throw invalid('wrong_typ');
      if (!header.alg || !profile.algorithms.includes(header.alg)) throw invalid('alg_not_allowed');

      const verify = (state: ServerState) =>
        jwtVerify(token, keyFor(state), {
          issuer: options.issuer,
          ...(profile.audience === 'other' ? {} : { audience: options.audience }),
          algorithms: [...profile.algorithms],
          clockTolerance: options.clockSkew,
          currentDate: new Date(options.now()),
          requiredClaims: [...profile.requiredClaims],
        });
      let verified: VerifiedJwt;
      try {
        const state = await discovery.getServer();
        try {
          const result = await verify(state);
          verified = { header: result.protectedHeader, payload: result.payload };
        } catch (error) {
          if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
          // An unknown kid may mean the IdP moved its keys; look at the metadata again (rate-limited).
          const refreshed = await discovery.getServer({ forceRefresh: true });
          if (refreshed === state) throw error;
          const result = await verify(refreshed);
          verified = { header: result.protectedHeader, payload: result.payload };
        }
      } catch (error) {
        if (error instanceof TokenHandlerError) throw error;
        if (error instanceof joseErrors.JWKSTimeout || (error instanceof Error && error.name === 'TypeError')) throw keysUnavailable(error);
        throw invalid(joseFailure(error), error);
      }

      const { payload } = verified;
      // jose has checked that iat is a number when present; it must not be in the future either.
      if (payload.iat !== undefined && payload.iat > options.now() / 1000 + options.clockSkew) throw invalid('iat_in_future');
      // Only our client may be an audience; a token also meant for others is not ours to accept (ID-03).
      if (profile.audience !== 'other' && Array.isArray(payload.aud) && payload.aud.some((a) => a !== options.audience)) throw invalid('extra_audience');
      if (profile.forbiddenClaims?.some((claim) => payload[claim] !== undefined)) throw invalid('forbidden_claim');
      if (profile.oneOfClaims && !profile.oneOfClaims.some((claim) => typeof payload[claim] === 'string' && payload[claim] !== '')) {
        throw invalid('missing_claim');
      }
      return verified;
    },
  };
}

/** The key set's own failures (down, HTML, malformed) are the IdP's fault, not the token's: 502, not 400. */
function keyFor(state: ServerState): JWTVerifyGetKey {
  return async (protectedHeader, token) => {
    try {
      return await state.jwks(protectedHeader, token);
    } catch (error) {
      if (error instanceof TokenHandlerError || error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys || error instanceof joseErrors.JOSENotSupported) {
        throw error;
      }
      throw keysUnavailable(error);
    }
  };
}

function keysUnavailable(cause: unknown): TokenHandlerError {
  return new TokenHandlerError('authorization_server_error', { reason: 'jwks_unavailable', detail: 'The authorization server keys could not be loaded', cause });
}

/** jose's error code as a failure (`ERR_JWT_EXPIRED` → `err_jwt_expired`); anything else is `verification_failed`. */
function joseFailure(error: unknown): JwtFailure {
  const code = error instanceof joseErrors.JOSEError ? error.code.toLowerCase() : '';
  return code.startsWith('err_') && code in JWT_FAILURES ? (code as JwtFailure) : 'verification_failed';
}

function typAllowed(typ: unknown, rule: TypRule): boolean {
  const normalised = typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;
  if ('expected' in rule) return normalised === rule.expected.toLowerCase() || (rule.whenPresent === true && normalised === undefined);
  return normalised === undefined || !rule.forbidden.some((name) => name.toLowerCase() === normalised);
}
