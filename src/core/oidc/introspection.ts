/**
 * Token introspection for the phantom token pattern (contract §7): the session's opaque access
 * token is sent to the IdP's introspection endpoint (RFC 7662, `token_type_hint=access_token`,
 * authenticated as the client exactly as at the token endpoint), asking for a JWT to forward
 * upstream instead of the opaque token. Two answers are understood, one per `TH_INTROSPECTION_FORMAT`:
 *
 * - `token-introspection+jwt` (RFC 9701, what oidc-provider speaks): a signed introspection
 *   response, verified here (typ, signature, `iss`, `aud` = our client id, `iat` fresh) and read
 *   only through its `token_introspection` member. It is not an access token, but it is the one
 *   signed statement about the token there is: it is what goes upstream, and the API validates it
 *   as such (README, "Phantom tokens").
 * - `jwt` (Curity's `Accept: application/jwt`): the body is the phantom JWT itself, made for the
 *   API (its `aud` is the API's to check); verified here against the issuer's keys (signature,
 *   `iss`, `exp`) so nothing unsigned is forwarded. 204 means inactive.
 *
 * Failures: an inactive token is the user's (401 `unauthorized_request`, the SPA refreshes); the
 * endpoint down, slow (TH_IDP_TIMEOUT), 5xx, HTML, oversized or malformed, and a JWT that does not
 * verify, are the IdP's (502 `authorization_server_error`). Nothing here logs or throws the token
 * or the JWT: reasons are fixed names, causes are library errors.
 */
import { isLoopbackHost, type Config, type IntrospectionFormat } from '../types.js';
import { TokenHandlerError, type HttpStatus } from '../errors.js';
import type { ClientAuthentication } from './client-auth.js';
import type { Discovery } from './discovery.js';
import type { IdpFetch } from './idp-fetch.js';
import type { JwtProfile, JwtValidator } from './jwt-validation.js';

/** What an active token introspects into. */
export interface Introspection {
  /** The JWT to forward as the bearer token. */
  readonly jwt: string;
  /** Epoch seconds when the token stops being active, when the IdP said (the earliest `exp` it gave). */
  readonly exp: number | undefined;
}

export interface Introspector {
  /** Introspects an opaque access token; throws 401 `token_inactive` or a 502. */
  introspect(token: string): Promise<Introspection>;
}

export interface IntrospectorDeps {
  readonly idp: IdpFetch;
  readonly credentials: ClientAuthentication;
  readonly discovery: Discovery;
  readonly jwt: JwtValidator;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

/** The media type asked for, per format. */
export const INTROSPECTION_ACCEPT: Readonly<Record<IntrospectionFormat, string>> = {
  'token-introspection+jwt': 'application/token-introspection+jwt',
  jwt: 'application/jwt',
};

/** Far above any real phantom JWT; also what most servers accept as one header line, give or take. */
const MAX_INTROSPECTION_JWT_LENGTH = 16 * 1024;

export function createIntrospector(config: Config, deps: IntrospectorDeps): Introspector {
  const { idp, credentials, discovery, jwt, now } = deps;
  const format = config.introspectionFormat;
  const accept = INTROSPECTION_ACCEPT[format];
  const profile: JwtProfile =
    format === 'token-introspection+jwt'
      ? {
          kind: 'introspection_jwt',
          maxLength: MAX_INTROSPECTION_JWT_LENGTH,
          algorithms: config.idTokenSigningAlgs,
          // RFC 9701 §5: explicitly typed, from our issuer, addressed to us, with its issue time.
          typ: { expected: 'token-introspection+jwt' },
          requiredClaims: ['iss', 'aud', 'iat'],
        }
      : {
          kind: 'introspection_jwt',
          maxLength: MAX_INTROSPECTION_JWT_LENGTH,
          algorithms: config.idTokenSigningAlgs,
          // An access token for the API: typed at+jwt, JWT or not at all, never another kind of JWT.
          typ: { forbidden: ['logout+jwt', 'token-introspection+jwt', 'dpop+jwt', 'secevent+jwt'] },
          requiredClaims: ['iss', 'exp'],
          audience: 'other',
        };

  /** The IdP sent a JWT that does not verify: its fault, so 502 with the validator's reason. */
  async function verify(token: string) {
    try {
      return await jwt.verify(token, profile);
    } catch (error) {
      if (error instanceof TokenHandlerError && error.code === 'invalid_request') {
        throw new TokenHandlerError('authorization_server_error', { reason: error.reason, detail: error.detail, cause: error.cause });
      }
      throw error;
    }
  }

  return {
    async introspect(token) {
      const { as } = await discovery.getServer();
      const endpoint = introspectionEndpoint(as.introspection_endpoint, idp.insecure);
      const body = new URLSearchParams({ token, token_type_hint: 'access_token' });
      const headers = new Headers({ accept, 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' });
      // The same client authentication as the token endpoint (basic, post or private_key_jwt).
      await (await credentials.auth())(as, credentials.client(), body, headers);

      const response = await idp.call('introspection_unreachable', async () => {
        const answer = await idp.fetch(endpoint, { method: 'POST', headers, body, redirect: 'manual', signal: idp.requestOptions().signal });
        return { status: answer.status, type: mediaType(answer.headers.get('content-type')), bytes: await answer.arrayBuffer() };
      });

      // Curity answers an inactive token with 204 in the application/jwt mode.
      if (response.status === 204) throw inactive();
      if (response.status >= 300) {
        throw new TokenHandlerError('authorization_server_error', { reason: `introspection_endpoint_${String(response.status) as HttpStatus}` });
      }
      if (response.status !== 200) throw malformed();
      const text = decodeUtf8(response.bytes);

      if (response.type === 'application/json') {
        // Plain RFC 7662 JSON: fine for "inactive"; an active token without a JWT leaves nothing to forward.
        if (readActive(parseObject(text)) !== true) throw inactive();
        throw new TokenHandlerError('authorization_server_error', { reason: 'introspection_jwt_missing' });
      }
      if (response.type !== accept) throw malformed();

      const signed = text.trim();
      const { payload } = await verify(signed);
      if (format === 'jwt') return { jwt: signed, exp: payload.exp };

      // RFC 9701 §5: a response made for this request, not an old one replayed.
      if (typeof payload.iat === 'number' && payload.iat < now() / 1000 - config.clockSkew) {
        throw new TokenHandlerError('authorization_server_error', { reason: 'introspection_response_stale' });
      }
      // RFC 9701 §5: the introspection claims are those of its `token_introspection` member only.
      const claims = payload['token_introspection'];
      if (!isObject(claims)) throw malformed();
      if (readActive(claims) !== true) throw inactive();
      return { jwt: signed, exp: earliest(claims['exp'], payload.exp) };
    },
  };
}

function inactive(): TokenHandlerError {
  return new TokenHandlerError('unauthorized_request', { reason: 'token_inactive' });
}

function malformed(): TokenHandlerError {
  return new TokenHandlerError('authorization_server_error', { reason: 'introspection_response_malformed', detail: 'The authorization server sent an invalid introspection response' });
}

/** The endpoint from the metadata: https, or http on loopback for a loopback issuer (local development and tests). */
function introspectionEndpoint(value: unknown, insecure: boolean): URL {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  // The token travels in this request: never over plain http to anything but this machine.
  if (!url || !(url.protocol === 'https:' || (insecure && url.protocol === 'http:' && isLoopbackHost(url.hostname)))) {
    throw new TokenHandlerError('authorization_server_error', { reason: 'introspection_endpoint_missing', detail: 'The authorization server offers no token introspection' });
  }
  return url;
}

/** The body as text (workerd warns on `.text()` of a JWT media type; a body that is not UTF-8 is no answer). */
function decodeUtf8(bytes: ArrayBuffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw malformed();
  }
}

function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed();
  }
  if (!isObject(value)) throw malformed();
  return value;
}

/** RFC 7662 §2.2: `active` is a required boolean; anything else is a broken answer, not "inactive". */
function readActive(claims: Record<string, unknown>): boolean {
  if (typeof claims['active'] !== 'boolean') throw malformed();
  return claims['active'];
}

function earliest(...values: unknown[]): number | undefined {
  const numbers = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return numbers.length > 0 ? Math.min(...numbers) : undefined;
}
