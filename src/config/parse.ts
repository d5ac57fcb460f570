/**
 * The one place that turns raw settings (environment variables, Worker bindings, or the bundled
 * JSON of Lambda@Edge) into a validated, frozen {@link Config}. Every problem is collected and
 * reported at once, naming the variable; secret values are never echoed.
 */
import { isLoopbackHost, type ApiRoute, type ClientAuthMethod, type Config, type CookieKey, type LogLevel } from '../core/types.js';

export { isLoopbackHost, type ApiRoute, type ClientAuthMethod, type Config, type CookieKey, type LogLevel } from '../core/types.js';

export type RawConfig = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid token handler configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
// Asymmetric algorithms only: `none` and HMAC are never acceptable for ID tokens (RFC 8725 §3.1).
const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const PRIVATE_KEY_ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const KNOWN_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
// Parameters the token handler sets itself; letting the SPA override them would break PKCE, state or the redirect.
const RESERVED_AUTH_PARAMS = new Set([
  'client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'code_challenge',
  'code_challenge_method', 'request', 'request_uri', 'response_mode', 'client_secret', 'client_assertion',
  'client_assertion_type',
]);
const RESERVED_TOKEN_PARAMS = new Set([
  'grant_type', 'refresh_token', 'code', 'code_verifier', 'redirect_uri', 'client_id', 'client_secret',
  'client_assertion', 'client_assertion_type',
]);
const MAX_CLOCK_SKEW = 300;

/** Parses and validates every setting; throws {@link ConfigError} listing every problem. */
export function parseConfig(raw: RawConfig): Config {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  };
  const required = (name: string): string => {
    const value = get(name);
    if (value === undefined) problems.push(`${name} is required`);
    return value ?? '';
  };

  // --- origins and URLs ---------------------------------------------------------------------
  const publicOrigin = parseOrigin('TH_PUBLIC_ORIGIN', required('TH_PUBLIC_ORIGIN'), problems);
  const extraOrigins = list(get('TH_TRUSTED_ORIGINS')).map((o) => parseOrigin('TH_TRUSTED_ORIGINS', o, problems));

  const issuerRaw = required('TH_ISSUER');
  let issuer = issuerRaw;
  if (issuerRaw) {
    const url = parseSecureUrl('TH_ISSUER', issuerRaw, problems);
    // The issuer is compared as an exact string with `iss` (RFC 9207, OIDC Core 3.1.3.7), so keep it as given.
    if (url && (url.search || url.hash)) problems.push('TH_ISSUER must not have a query or fragment');
    issuer = issuerRaw;
  }

  const clientId = required('TH_CLIENT_ID');

  // --- client authentication ----------------------------------------------------------------
  const clientSecret = get('TH_CLIENT_SECRET');
  const privateKeyRaw = get('TH_CLIENT_PRIVATE_KEY');
  let clientPrivateKey: (JsonWebKey & { kid?: string; alg?: string }) | undefined;
  if (privateKeyRaw !== undefined) {
    clientPrivateKey = parsePrivateJwk(privateKeyRaw, problems);
  }
  const authRaw = get('TH_CLIENT_AUTH');
  let clientAuth: ClientAuthMethod = privateKeyRaw !== undefined && clientSecret === undefined ? 'private_key_jwt' : 'client_secret_basic';
  if (authRaw !== undefined) {
    if ((CLIENT_AUTH_METHODS as readonly string[]).includes(authRaw)) clientAuth = authRaw as ClientAuthMethod;
    else problems.push(`TH_CLIENT_AUTH must be one of ${CLIENT_AUTH_METHODS.join(', ')} (got "${authRaw}")`);
  }
  if (clientAuth === 'private_key_jwt') {
    if (privateKeyRaw === undefined) problems.push('TH_CLIENT_PRIVATE_KEY is required when TH_CLIENT_AUTH is private_key_jwt');
  } else if (clientSecret === undefined) {
    problems.push(
      privateKeyRaw === undefined
        ? 'TH_CLIENT_SECRET or TH_CLIENT_PRIVATE_KEY is required (the token handler is a confidential client)'
        : `TH_CLIENT_SECRET is required when TH_CLIENT_AUTH is ${clientAuth}`,
    );
  }

  // --- cookie keys --------------------------------------------------------------------------
  const cookieKeys = parseCookieKeys(required('TH_COOKIE_KEYS'), problems);

  // --- paths --------------------------------------------------------------------------------
  const redirectPath = parsePath('TH_REDIRECT_PATH', get('TH_REDIRECT_PATH') ?? '/', problems, true);
  const postLogoutPath = parsePath('TH_POST_LOGOUT_REDIRECT_PATH', get('TH_POST_LOGOUT_REDIRECT_PATH') ?? '/', problems, true);
  const agentPath = stripTrailingSlash(parsePath('TH_AGENT_PATH', get('TH_AGENT_PATH') ?? '/oauth-agent', problems, false));
  if (agentPath === '') problems.push('TH_AGENT_PATH must not be "/"');

  const apiRoutes = parseApiRoutes(get('TH_API_ROUTES'), get('TH_API_ROUTE_OPTIONS'), agentPath, problems);

  // --- the rest -----------------------------------------------------------------------------
  const cookiePrefix = get('TH_COOKIE_PREFIX') ?? 'th';
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(cookiePrefix)) problems.push('TH_COOKIE_PREFIX must be 1-32 letters, digits, "_" or "-"');

  const extraAuthParams = list(get('TH_EXTRA_AUTH_PARAMS'));
  for (const name of extraAuthParams) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) problems.push(`TH_EXTRA_AUTH_PARAMS has an invalid parameter name "${name}"`);
    else if (RESERVED_AUTH_PARAMS.has(name)) problems.push(`TH_EXTRA_AUTH_PARAMS must not list "${name}", which the token handler sets itself`);
  }

  const extraTokenParams = list(get('TH_EXTRA_TOKEN_PARAMS'));
  for (const name of extraTokenParams) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) problems.push(`TH_EXTRA_TOKEN_PARAMS has an invalid parameter name "${name}"`);
    else if (RESERVED_TOKEN_PARAMS.has(name)) problems.push(`TH_EXTRA_TOKEN_PARAMS must not list "${name}", which the token handler sets itself`);
  }

  const sessionLifetime = parseInteger('TH_SESSION_LIFETIME', get('TH_SESSION_LIFETIME'), 28800, 60, 400 * 24 * 3600, problems);
  const clockSkew = parseInteger('TH_CLOCK_SKEW', get('TH_CLOCK_SKEW'), 60, 0, MAX_CLOCK_SKEW, problems);
  const upstreamTimeoutSeconds = parseInteger('TH_UPSTREAM_TIMEOUT', get('TH_UPSTREAM_TIMEOUT'), 30, 1, 900, problems);
  // A hung IdP must not hold a login open for long; Lambda@Edge gives a whole request 5 to 30 seconds.
  const idpTimeoutSeconds = parseInteger('TH_IDP_TIMEOUT', get('TH_IDP_TIMEOUT'), 10, 1, 60, problems);
  const usePar = parseBoolean('TH_USE_PAR', get('TH_USE_PAR'), false, problems);
  const revokeOnLogout = parseBoolean('TH_REVOKE_ON_LOGOUT', get('TH_REVOKE_ON_LOGOUT'), true, problems);
  const hiddenClaims = list(get('TH_HIDDEN_CLAIMS'));

  const logLevelRaw = (get('TH_LOG_LEVEL') ?? 'info').toLowerCase();
  let logLevel: LogLevel = 'info';
  if ((LOG_LEVELS as readonly string[]).includes(logLevelRaw)) logLevel = logLevelRaw as LogLevel;
  else problems.push(`TH_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevelRaw}")`);

  const idTokenSigningAlgs = list(get('TH_ID_TOKEN_SIGNING_ALGS') ?? 'RS256,PS256,ES256,EdDSA');
  for (const alg of idTokenSigningAlgs) {
    if (!ASYMMETRIC_ALGS.includes(alg)) {
      problems.push(`TH_ID_TOKEN_SIGNING_ALGS may list only asymmetric algorithms (${ASYMMETRIC_ALGS.join(', ')}); "${alg}" is not allowed`);
    }
  }

  const corsAllowHeaders = list(get('TH_CORS_ALLOW_HEADERS')).map((h) => h.toLowerCase());
  for (const header of corsAllowHeaders) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) problems.push(`TH_CORS_ALLOW_HEADERS has an invalid header name "${header}"`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    publicOrigin,
    issuer,
    clientId,
    clientAuth,
    ...(clientSecret !== undefined && clientAuth !== 'private_key_jwt' ? { clientSecret } : {}),
    ...(clientPrivateKey !== undefined && clientAuth === 'private_key_jwt' ? { clientPrivateKey: Object.freeze(clientPrivateKey) } : {}),
    cookieKeys: Object.freeze(cookieKeys.map((k) => Object.freeze(k))),
    scope: normaliseScope(get('TH_SCOPE') ?? 'openid profile offline_access'),
    redirectUri: publicOrigin + redirectPath,
    postLogoutRedirectUri: publicOrigin + postLogoutPath,
    agentPath,
    apiRoutes: Object.freeze(apiRoutes.map((r) => Object.freeze(r))),
    cookiePrefix,
    trustedOrigins: Object.freeze([publicOrigin, ...extraOrigins.filter((o) => o !== publicOrigin)]),
    extraAuthParams: Object.freeze(extraAuthParams),
    extraTokenParams: Object.freeze(extraTokenParams),
    sessionLifetime,
    clockSkew,
    usePar,
    revokeOnLogout,
    hiddenClaims: Object.freeze(hiddenClaims),
    logLevel,
    idTokenSigningAlgs: Object.freeze(idTokenSigningAlgs),
    upstreamTimeout: upstreamTimeoutSeconds * 1000,
    idpTimeout: idpTimeoutSeconds * 1000,
    corsAllowHeaders: Object.freeze(corsAllowHeaders),
  };
  return Object.freeze(config);
}

function list(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function normaliseScope(scope: string): string {
  const scopes = scope.split(/[\s,]+/).filter(Boolean);
  // OpenID Connect requires the openid scope; without it there is no ID token and no session claims.
  if (!scopes.includes('openid')) scopes.unshift('openid');
  return [...new Set(scopes)].join(' ');
}

function stripTrailingSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

/** http is accepted only for loopback hosts (local development and tests); everything else must be https. */
function parseSecureUrl(name: string, value: string, problems: string[]): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} is not a valid URL`);
    return undefined;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    problems.push(`${name} must be an https URL (http is allowed only for localhost/127.0.0.1)`);
    return undefined;
  }
  if (url.username || url.password) {
    problems.push(`${name} must not contain credentials`);
    return undefined;
  }
  return url;
}

function parseOrigin(name: string, value: string, problems: string[]): string {
  if (!value) return '';
  const url = parseSecureUrl(name, value, problems);
  if (!url) return '';
  if (url.pathname !== '/' || url.search || url.hash || value.endsWith('/')) {
    problems.push(`${name} must be an origin (scheme://host[:port]) without a path or trailing slash (got "${value}")`);
    return '';
  }
  return url.origin;
}

function parsePath(name: string, value: string, problems: string[], allowQuery: boolean): string {
  if (!value.startsWith('/') || value.startsWith('//') || /[\s\\#]/.test(value) || (!allowQuery && value.includes('?'))) {
    problems.push(`${name} must be an absolute path starting with a single "/" (got "${value}")`);
    return '/';
  }
  return value;
}

function parseInteger(name: string, value: string | undefined, fallback: number, min: number, max: number, problems: string[]): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) {
    problems.push(`${name} must be a whole number of seconds (got "${value}")`);
    return fallback;
  }
  const n = Number(value);
  if (n < min || n > max) {
    problems.push(`${name} must be between ${min} and ${max} (got ${n})`);
    return fallback;
  }
  return n;
}

function parseBoolean(name: string, value: string | undefined, fallback: boolean, problems: string[]): boolean {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  problems.push(`${name} must be true or false (got "${value}")`);
  return fallback;
}

function parseCookieKeys(value: string, problems: string[]): CookieKey[] {
  if (!value) return [];
  const keys: CookieKey[] = [];
  const seen = new Set<string>();
  list(value).forEach((entry, index) => {
    const colon = entry.indexOf(':');
    const position = `entry ${index + 1}`;
    if (colon <= 0) {
      problems.push(`TH_COOKIE_KEYS ${position} must have the form <id>:<secret>`);
      return;
    }
    const id = entry.slice(0, colon);
    const secret = entry.slice(colon + 1);
    // iron-webcrypto embeds the id in each sealed value and accepts only word characters there.
    if (!/^\w{1,32}$/.test(id)) problems.push(`TH_COOKIE_KEYS ${position} has an invalid id (letters, digits and "_" only, at most 32)`);
    else if (seen.has(id)) problems.push(`TH_COOKIE_KEYS ${position} repeats the id "${id}"`);
    seen.add(id);
    if (secret.length < 32) problems.push(`TH_COOKIE_KEYS key "${id}" is too short: each secret needs at least 32 characters`);
    keys.push({ id, secret });
  });
  if (keys.length === 0) problems.push('TH_COOKIE_KEYS must hold at least one <id>:<secret> key');
  return keys;
}

function parsePrivateJwk(value: string, problems: string[]): (JsonWebKey & { kid?: string; alg?: string }) | undefined {
  let jwk: unknown;
  try {
    jwk = JSON.parse(value);
  } catch {
    problems.push('TH_CLIENT_PRIVATE_KEY must be a private JWK in JSON');
    return undefined;
  }
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) {
    problems.push('TH_CLIENT_PRIVATE_KEY must be a private JWK in JSON');
    return undefined;
  }
  const key = jwk as JsonWebKey & { kid?: string; alg?: string };
  if (!['RSA', 'EC', 'OKP'].includes(String(key.kty))) {
    problems.push('TH_CLIENT_PRIVATE_KEY must be an RSA, EC or OKP key');
    return undefined;
  }
  if (typeof key.d !== 'string') {
    problems.push('TH_CLIENT_PRIVATE_KEY must be a private key (it has no "d" member)');
    return undefined;
  }
  const alg = key.alg ?? (key.kty === 'RSA' ? 'RS256' : key.kty === 'EC' ? ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[String(key.crv)] : 'EdDSA');
  if (!alg || !PRIVATE_KEY_ALGS.includes(alg)) {
    problems.push(`TH_CLIENT_PRIVATE_KEY has an unsupported algorithm; use one of ${PRIVATE_KEY_ALGS.join(', ')}`);
    return undefined;
  }
  return { ...key, alg };
}

function parseApiRoutes(value: string | undefined, optionsValue: string | undefined, agentPath: string, problems: string[]): ApiRoute[] {
  const routes: { prefix: string; upstream: string; methods?: string[]; public: boolean; nosniff: boolean }[] = [];
  for (const entry of list(value)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      problems.push(`TH_API_ROUTES entry "${entry}" must have the form <path prefix>=<upstream base URL>`);
      continue;
    }
    const prefix = stripTrailingSlash(entry.slice(0, eq).trim());
    const upstreamRaw = entry.slice(eq + 1).trim();
    if (!prefix.startsWith('/') || prefix.length < 2 || !/^\/[A-Za-z0-9._~!$&'()*+;:@/-]*$/.test(prefix) || /(^|\/)\.\.?(\/|$)/.test(prefix) || prefix.includes('//')) {
      problems.push(`TH_API_ROUTES prefix "${prefix}" must be a plain absolute path such as /api or /api/orders`);
      continue;
    }
    if (prefix === agentPath || prefix.startsWith(agentPath + '/') || agentPath.startsWith(prefix + '/')) {
      problems.push(`TH_API_ROUTES prefix "${prefix}" overlaps TH_AGENT_PATH "${agentPath}"`);
      continue;
    }
    const url = parseSecureUrl(`TH_API_ROUTES upstream for ${prefix}`, upstreamRaw, problems);
    if (!url) continue;
    if (url.search || url.hash) {
      problems.push(`TH_API_ROUTES upstream for ${prefix} must not have a query or fragment`);
      continue;
    }
    if (routes.some((r) => r.prefix === prefix)) {
      problems.push(`TH_API_ROUTES lists the prefix "${prefix}" twice`);
      continue;
    }
    routes.push({ prefix, upstream: url.origin + stripTrailingSlash(url.pathname), public: false, nosniff: true });
  }

  // TH_API_ROUTE_OPTIONS: `<prefix>=<option>[ <option>…]`, options are `public`, `allow-sniffing` and `methods:GET|POST`.
  for (const entry of list(optionsValue)) {
    const eq = entry.indexOf('=');
    const prefix = stripTrailingSlash((eq > 0 ? entry.slice(0, eq) : '').trim());
    const route = routes.find((r) => r.prefix === prefix);
    if (!route) {
      problems.push(`TH_API_ROUTE_OPTIONS entry "${entry}" does not name a prefix from TH_API_ROUTES`);
      continue;
    }
    for (const option of entry.slice(eq + 1).trim().split(/\s+/).filter(Boolean)) {
      if (option === 'public') route.public = true;
      else if (option === 'allow-sniffing') route.nosniff = false;
      else if (option.startsWith('methods:')) {
        const methods = option.slice('methods:'.length).split('|').map((m) => m.trim().toUpperCase()).filter(Boolean);
        const bad = methods.filter((m) => !KNOWN_METHODS.includes(m));
        if (methods.length === 0 || bad.length > 0) problems.push(`TH_API_ROUTE_OPTIONS for ${prefix} has unknown methods "${bad.join('|')}"`);
        else route.methods = methods;
      } else problems.push(`TH_API_ROUTE_OPTIONS for ${prefix} has an unknown option "${option}" (use public, allow-sniffing or methods:GET|POST)`);
    }
  }
  return routes;
}
