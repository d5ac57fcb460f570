/**
 * The one error type of the token handler, and its two tables: each code with its HTTP status and
 * its bland default `detailed_error` (what the browser sees), and the closed list of reasons (what
 * the log's `reason` field may say, each with one line of docs). Anything more precise (a
 * library's message, a failed claim) goes in `cause`, which only reaches the log.
 */

import type { SetCookie } from './session/cookie-table.js';

/** Error code → HTTP status and the default `detailed_error`. `error_code` on the wire is the code. */
export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is invalid' },
  authorization_error: { status: 400, message: 'The authorization server refused the request' },
  /** An error the IdP returned on the authorization response; its own code goes on the wire. */
  authorization_response_error: { status: 400, message: 'The authorization server returned an error' },
  unauthorized_request: { status: 401, message: 'The request is not authorized' },
  login_required: { status: 401, message: 'The user must log in' },
  session_expired: { status: 401, message: 'The session has expired' },
  token_expired: { status: 401, message: 'The access token has expired' },
  not_found: { status: 404, message: 'There is no such endpoint' },
  method_not_allowed: { status: 405, message: 'The method is not allowed' },
  request_too_large: { status: 413, message: 'The request body is too large' },
  request_header_too_large: { status: 431, message: 'The request headers are too large' },
  unsupported_media_type: { status: 415, message: 'The content type is not supported' },
  server_error: { status: 500, message: 'The token handler failed unexpectedly' },
  authorization_server_error: { status: 502, message: 'The authorization server failed' },
  upstream_unavailable: { status: 502, message: 'The API could not be reached' },
  store_unavailable: { status: 503, message: 'The session store could not be reached' },
} as const satisfies Record<string, { readonly status: number; readonly message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The reasons with a fixed name, each with what it means. */
export const REASONS = {
  // Discovery and the IdP's answers (core/oidc).
  discovery_failed: 'The IdP metadata could not be fetched or read (unreachable, timed out, not JSON, or for another issuer).',
  discovery_issuer_mismatch: 'The IdP metadata names another issuer than TH_ISSUER (RFC 8414 §3.3).',
  discovery_incomplete: 'The IdP metadata lacks an authorization, token or JWKS endpoint.',
  discovery_no_s256: 'The IdP metadata says PKCE S256 is not supported (RFC 9700 §2.1.1).',
  discovery_insecure_jwks: 'The IdP metadata names a jwks_uri that is not https.',
  jwks_unavailable: 'The IdP key set could not be loaded (unreachable, timed out, not JSON, or malformed).',
  idp_response_too_large: 'An answer of the IdP was larger than 256 KB and was refused unread.',
  par_unreachable: 'The pushed authorization request endpoint could not be reached (refused, reset, timed out).',
  par_refused: 'The IdP refused the pushed authorization request (RFC 9126).',
  token_endpoint_unreachable: 'The token endpoint could not be reached (refused, reset, timed out).',
  token_response_malformed: 'The token endpoint answered 2xx/3xx with something that is not a token response (HTML, bad JSON, no access_token or token_type).',
  token_response_invalid: 'The token response is well-formed but fails a rule (token type, expires_in, missing or invalid ID token).',
  authorization_response_invalid: 'The authorization response forwarded to login/end fails validation (state, iss, error parameters).',
  refresh_invalid_grant: 'The IdP answered invalid_grant to a refresh: the session is over.',
  // Introspection of opaque access tokens (the phantom token pattern, core/oidc/introspection).
  introspection_endpoint_missing: 'An API route introspects, but the IdP metadata names no usable introspection_endpoint (none, or not https).',
  introspection_unreachable: 'The introspection endpoint could not be reached (refused, reset, timed out).',
  introspection_response_malformed: 'The introspection endpoint answered 200 with something unusable (HTML, bad JSON, no active boolean, the wrong content type).',
  introspection_jwt_missing: 'The introspection endpoint said the token is active but sent no JWT to forward (it ignored the Accept header).',
  introspection_response_stale: 'The signed introspection response has an iat older than the clock skew (RFC 9701 §5): it was not made for this request.',
  token_inactive: 'The IdP says the access token is not active (expired, revoked, or unknown: RFC 7662 §2.2).',
  userinfo_no_endpoint: 'The IdP metadata names no userinfo endpoint: userinfo answers 404 not_found.',
  userinfo_unreachable: 'The userinfo endpoint could not be reached (refused, reset, timed out).',
  userinfo_invalid_token: 'The userinfo endpoint answered 401 (invalid_token): the access token has expired or was revoked; the SPA should refresh.',
  userinfo_refused: 'The userinfo endpoint answered another 4xx (insufficient_scope, invalid_request, …).',
  userinfo_server_error: 'The userinfo endpoint answered 5xx.',
  userinfo_malformed: 'The userinfo endpoint answered something that is no userinfo response (another status, HTML, bad JSON, not an object, no sub).',
  userinfo_sub_mismatch: 'The userinfo response names another subject than the session (OIDC Core 5.3.2); it is not used.',
  token_not_dpop_bound: 'TH_DPOP is on but the token endpoint answered a proof with a bearer token (the IdP does not bind tokens to DPoP keys).',
  // The agent (core/agent).
  state_unknown: 'login/end got a state that matches no login transaction (expired, used, or forged).',
  iss_missing: 'The authorization response has no iss although the IdP advertises it (RFC 9207).',
  iss_mismatch: 'The authorization response names another issuer (a mix-up attempt, RFC 9207).',
  idp_login_required: 'The IdP answered login_required to a prompt=none login.',
  idp_error: 'The IdP answered the authorization request with an error; its code is relayed as error_code.',
  extra_param_not_allowed: 'login/start or refresh got a parameter that TH_EXTRA_AUTH_PARAMS / TH_EXTRA_TOKEN_PARAMS does not allow.',
  scope_not_allowed: 'login/start got a scope that is neither in TH_SCOPE nor in TH_ALLOWED_SCOPES.',
  jarm_not_supported: 'login/end got a JWT-secured authorization response (a response parameter without code or error: JARM), which is not supported.',
  userinfo_no_session: 'userinfo was called without a session: no valid access-token cookie, or no ID cookie of the same session to compare the subject with.',
  no_refresh_token: 'refresh was called without a (valid) refresh token cookie.',
  session_too_large: 'The tokens are too large to keep in cookies.',
  session_cookies_orphaned: 'Refresh-token or ID cookies came without the access-token cookie that anchors them (planted by a sibling subdomain, or half a session): no session, cleared.',
  session_ids_differ: 'The session cookies carry different session ids (mixed sessions): no session, cleared.',
  session_format_old: 'Session cookies of the format before session ids: no session, cleared (a one-time logout after the upgrade).',
  session_revoked: 'The session was ended (logout, or back-channel logout at the IdP) and its cookies were presented again: no session, cleared.',
  backchannel_logout_disabled: 'backchannel-logout was called but TH_BACKCHANNEL_LOGOUT is off: 404.',
  backchannel_logout_token_missing: 'A back-channel logout request without a logout_token form field.',
  backchannel_logout_events_missing: 'A logout token without the back-channel logout member in its events claim.',
  backchannel_logout_jti_replayed: 'A logout token whose jti was already used (a replay).',
  // Agent requests (app).
  method_not_allowed: 'An agent endpoint was called with a method it does not accept.',
  agent_path_unknown: 'A path under the agent base that is no endpoint.',
  body_too_large: 'The request body is larger than the agent accepts.',
  body_truncated: 'CloudFront cut the body (Lambda@Edge) of an agent request.',
  body_not_utf8: 'The request body is not valid UTF-8.',
  content_type_unsupported: 'The request body is neither form-encoded nor JSON.',
  duplicate_parameter: 'A form-encoded body names a parameter twice.',
  json_malformed: 'A JSON body does not parse.',
  json_not_object: 'A JSON body is not an object.',
  json_value_not_string: 'A JSON body has a value that is not a string.',
  // Request checks (app).
  cookie_header_too_large: 'The Cookie header is larger than 32 KB.',
  headers_too_large: 'The request headers are larger than 48 KB.',
  csrf_header_missing: 'A state-changing request without token-handler-version: 1.',
  fetch_site_not_allowed: 'Sec-Fetch-Site says the request is cross-site.',
  origin_untrusted: 'The Origin header names an origin that is not trusted.',
  preflight_origin_untrusted: 'A CORS preflight from an origin that is not trusted.',
  path_unknown: 'A path that is neither an agent endpoint nor an API route.',
  absolute_form_target: 'The request target is a URL, not a path (Node).',
  bad_request_target: 'The request target cannot be parsed (Node).',
  header_malformed: 'A request header that no Headers object can hold (NUL, CR or LF, a bad name) arrived through CloudFront (Lambda@Edge).',
  // The proxy (app, core/proxy).
  path_not_absolute: 'An API path that does not start with /.',
  path_bad_character: 'An API path with a backslash, # or control character.',
  path_encoded_separator: 'An API path with an encoded /, \\ or NUL.',
  path_dot_segment: 'An API path with a . or .. segment (also encoded).',
  path_unicode_lookalike: 'An API path with Unicode that folds into a dot segment or separator (NFKC).',
  path_bad_encoding: 'An API path with invalid percent-encoding.',
  path_encoded_too_deep: 'An API path still changing after four rounds of decoding.',
  path_normalises_into_route: 'A path that reaches an API route only once its dot segments are resolved.',
  proxy_method_not_allowed: 'An API route was called with a method it does not accept.',
  no_access_token: 'An API route that needs a session was called without a valid access token cookie.',
  access_token_expired: 'The access token has expired; the SPA should refresh.',
  upstream_timeout: 'The API did not answer within TH_UPSTREAM_TIMEOUT.',
  upstream_unreachable: 'The API could not be reached (refused, reset).',
  upstream_bad_status: 'The API answered with a status outside 200–599.',
  // The session store (contract §6).
  refresh_wait_timeout: 'A refresh waited for a concurrent refresh of the same session (on any instance) to bring the new tokens, and it did not within the IdP timeout.',
  store_unreachable: 'The session store did not answer within its timeouts (or refused): revocation cannot be checked, so the request is refused (fail closed).',
  // Start-up.
  config_unavailable: 'The configuration could not be loaded or is invalid (Lambda@Edge).',
  config_invalid: 'The configuration is invalid; the log names the variables.',
  startup_failed: 'The token handler failed to start for another reason.',
  unexpected_error: 'A bug: an error the token handler did not expect.',
} as const satisfies Record<string, string>;

export type FixedReason = keyof typeof REASONS;

type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';
/** An HTTP status of 400–599 as text. */
export type HttpErrorStatus = `${4 | 5}${Digit}${Digit}`;
/** An HTTP status of 300–599 as text. */
export type HttpStatus = `${3 | 4 | 5}${Digit}${Digit}`;
/** An HTTP status of 500–599 as text. */
export type HttpServerErrorStatus = `5${Digit}${Digit}`;

/**
 * The registered OAuth error codes an IdP may answer with (RFC 6749 §4.1.2.1 and §5.2, RFC 6750,
 * RFC 7009, RFC 8628, RFC 8707, RFC 9396, RFC 9449, RFC 9470, OIDC Core §3.1.2.6). Any other value
 * is logged as `other`: a hostile IdP may put anything there.
 */
export const OAUTH_ERRORS = [
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope',
  'access_denied', 'unsupported_response_type', 'server_error', 'temporarily_unavailable',
  'invalid_token', 'insufficient_scope', 'unsupported_token_type',
  'authorization_pending', 'slow_down', 'expired_token', 'invalid_target', 'invalid_authorization_details',
  'invalid_dpop_proof', 'use_dpop_nonce', 'insufficient_user_authentication',
  'interaction_required', 'login_required', 'account_selection_required', 'consent_required',
  'invalid_request_uri', 'invalid_request_object', 'request_not_supported', 'request_uri_not_supported', 'registration_not_supported',
] as const;
export type OAuthErrorForLog = (typeof OAUTH_ERRORS)[number] | 'other';

/** An IdP's `error` value fit for a log line: a registered OAuth error code, or `other`. */
export function oauthErrorForLog(code: unknown): OAuthErrorForLog {
  return (OAUTH_ERRORS as readonly unknown[]).includes(code) ? (code as OAuthErrorForLog) : 'other';
}

/** Why a JWT (ID token, logout token, introspection JWT) was refused; logged as `<kind>_<failure>`. */
export const JWT_FAILURES = {
  too_large: 'It is longer than its kind allows (16 KB for an ID token).',
  malformed: 'It is not a compact JWS (the header does not decode).',
  wrong_typ: 'Its typ header is not the one its kind needs, or names another kind of JWT (logout+jwt, at+jwt, …).',
  alg_not_allowed: 'Its alg is not in the allow-list (none and HMAC never are).',
  err_jws_signature_verification_failed: 'Its signature does not verify under the IdP key it names.',
  err_jwks_no_matching_key: 'No key of the IdP key set matches it, even after the key set was fetched again.',
  err_jwks_multiple_matching_keys: 'Several keys of the IdP key set match it and nothing tells them apart.',
  err_jwt_expired: 'Its exp is past, beyond the clock skew.',
  err_jwt_claim_validation_failed: 'Its iss, aud or nbf is wrong, or a required claim is missing.',
  err_jws_invalid: 'Its JWS structure is invalid.',
  err_jwt_invalid: 'Its payload is not a JWT claims set.',
  err_jose_alg_not_allowed: 'Its alg does not fit the key.',
  err_jose_not_supported: 'Its key or algorithm is not supported by this runtime.',
  err_jwk_invalid: 'The IdP key it names is not a usable key.',
  err_jose_generic: 'jose refused it for another reason.',
  verification_failed: 'Verifying it failed for another reason.',
  iat_in_future: 'Its iat is later than now plus the clock skew.',
  extra_audience: 'Its aud names another audience beside this client (ID-03).',
  forbidden_claim: 'It carries a claim its kind must not (nonce in a logout token).',
  missing_claim: 'It carries none of the claims of which its kind needs one (sub or sid in a logout token).',
} as const satisfies Record<string, string>;
export type JwtFailure = keyof typeof JWT_FAILURES;

/** The rules only an ID token has (OIDC Core §3.1.3.7, §12.2). */
export const ID_TOKEN_FAILURES = {
  azp_mismatch: 'Its azp names another client.',
  bad_sub: 'Its sub is not a string of 1–255 characters.',
  nonce_mismatch: 'Its nonce is not the one of this login.',
  sub_changed: 'A refreshed ID token names another subject than the session (OIDC Core §12.2).',
  at_hash_mismatch: 'Its at_hash does not bind the access token it came with (OIDC Core §3.1.3.6).',
} as const satisfies Record<string, string>;
export type IdTokenFailure = keyof typeof ID_TOKEN_FAILURES;

/** The kinds of JWT the token handler validates, as they are named in reasons. */
export const JWT_KINDS = {
  id_token: 'the ID token of a login or refresh',
  logout_token: 'the logout token of a back-channel logout request',
  userinfo_jwt: 'a signed userinfo response, application/jwt',
  introspection_jwt: 'the JWT an introspection endpoint answers with (RFC 9701 response, or the application/jwt phantom token)',
} as const satisfies Record<string, string>;
export type JwtKind = keyof typeof JWT_KINDS;
export type JwtReason = `id_token_${JwtFailure | IdTokenFailure}` | `logout_token_${JwtFailure}` | `userinfo_jwt_${JwtFailure}` | `introspection_jwt_${JwtFailure}`;

/** The reasons named after what the IdP said; a fixed prefix and a closed set of suffixes each. */
export const REASON_FAMILIES = {
  'token_endpoint_<status>': 'The token endpoint answered this 4xx/5xx status without a usable OAuth error.',
  'token_endpoint_<oauth error>': 'The token endpoint refused the code exchange or refresh with this registered OAuth error code (or other).',
  'par_<status>': 'The pushed authorization request endpoint answered this 5xx status.',
  'id_token_<failure>': 'The ID token was refused; <failure> is one of the JWT failures or ID-token failures.',
  'logout_token_<failure>': 'The logout token was refused; <failure> is one of the JWT failures.',
  'userinfo_jwt_<failure>': 'A signed userinfo response was refused; <failure> is one of the JWT failures.',
  'introspection_endpoint_<status>': 'The introspection endpoint answered this 4xx/5xx status (or 3xx): the IdP is down or refuses our client.',
  'introspection_jwt_<failure>': 'The JWT from the introspection endpoint was refused (502: the IdP is broken, not the user); <failure> is one of the JWT failures.',
} as const satisfies Record<string, string>;

/** Every value the log's `reason` field may take. */
export type Reason =
  | FixedReason
  | `token_endpoint_${HttpErrorStatus | OAuthErrorForLog}`
  | `par_${HttpServerErrorStatus}`
  | `introspection_endpoint_${HttpStatus}`
  | JwtReason;

/** Whether `value` is a documented reason (for call sites of the old form, and tests). */
export function isReason(value: string): value is Reason {
  if (value in REASONS) return true;
  const family = /^(token_endpoint|par|id_token|logout_token|userinfo_jwt|introspection_endpoint|introspection_jwt)_(.+)$/.exec(value);
  if (!family) return false;
  const rest = family[2]!;
  switch (family[1]) {
    case 'token_endpoint':
      return /^[45][0-9]{2}$/.test(rest) || rest === 'other' || (OAUTH_ERRORS as readonly string[]).includes(rest);
    case 'par':
      return /^5[0-9]{2}$/.test(rest);
    case 'introspection_endpoint':
      return /^[345][0-9]{2}$/.test(rest);
    case 'id_token':
      return rest in JWT_FAILURES || rest in ID_TOKEN_FAILURES;
    default:
      return rest in JWT_FAILURES;
  }
}

export interface TokenHandlerErrorOptions {
  /** Why, for the log line; one of the documented reasons. */
  readonly reason: Reason;
  /** The `detailed_error` when the code's default is too vague; short, bland, no values. */
  readonly detail?: string;
  readonly cause?: unknown;
  /** What goes in `error_code` instead of the code (errors relayed from the IdP). */
  readonly wireCode?: string;
  readonly setCookies?: readonly SetCookie[];
  /** For 405: the methods the resource does accept. */
  readonly allow?: string;
}

export class TokenHandlerError extends Error {
  override readonly name = 'TokenHandlerError';
  readonly status: number;
  /** The short, bland `detailed_error` the browser sees. */
  readonly detail: string;
  /** What goes in `error_code`; equal to `code` except for errors relayed from the IdP. */
  readonly wireCode: string;
  /** A short machine-readable reason for the log line (e.g. `state_unknown`). */
  readonly reason: Reason;
  /** Cookies the error response must still set or clear (a used login transaction, a dead session). */
  readonly setCookies: readonly SetCookie[];
  /** For 405: the methods the resource does accept. */
  readonly allow: string | undefined;

  /** `new TokenHandlerError('invalid_request', { reason: 'state_unknown' })`: the detail defaults from the table. */
  constructor(
    readonly code: ErrorCode,
    options: TokenHandlerErrorOptions,
  ) {
    const detail = options.detail ?? ERRORS[code].message;
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = ERRORS[code].status;
    this.detail = detail;
    this.wireCode = options.wireCode ?? code;
    this.reason = options.reason;
    this.setCookies = options.setCookies ?? [];
    this.allow = options.allow;
  }

  /** The same error with more cookies to set or clear (put before its own), for a caller to re-throw. */
  withCookies(setCookies: readonly SetCookie[]): TokenHandlerError {
    return new TokenHandlerError(this.code, {
      reason: this.reason,
      detail: this.detail,
      wireCode: this.wireCode,
      setCookies: [...setCookies, ...this.setCookies],
      ...(this.cause !== undefined ? { cause: this.cause } : {}),
      ...(this.allow !== undefined ? { allow: this.allow } : {}),
    });
  }
}

export function isTokenHandlerError(error: unknown): error is TokenHandlerError {
  return error instanceof TokenHandlerError;
}
