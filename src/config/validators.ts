/**
 * The parse functions for settings too rich for a plain type (origins, URLs, paths, cookie keys,
 * the private JWK, API routes and their options, parameter and header names). The schema names
 * them; each takes the trimmed text and the setting's name, reports into `problems` (naming the
 * setting, never quoting a secret) and returns what the configuration holds.
 */
import { isLoopbackHost, type CookieKey } from '../core/types.js';
import { weakSecretReason } from './secret-strength.js';

export type Problems = string[];

// Asymmetric algorithms only: `none` and HMAC are never acceptable for ID tokens (RFC 8725 §3.1).
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const PRIVATE_KEY_ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
// Parameters the token handler sets itself; letting the SPA override them would break PKCE, state or the redirect.
// `scope` is not here: login/start always accepts it, within the allowed scopes (contract §7).
export const RESERVED_AUTH_PARAMS = [
  'client_id', 'redirect_uri', 'response_type', 'state', 'nonce', 'code_challenge',
  'code_challenge_method', 'request', 'request_uri', 'response_mode', 'client_secret', 'client_assertion',
  'client_assertion_type',
] as const;
export const RESERVED_TOKEN_PARAMS = [
  'grant_type', 'refresh_token', 'code', 'code_verifier', 'redirect_uri', 'client_id', 'client_secret',
  'client_assertion', 'client_assertion_type',
] as const;

export type PrivateJwk = JsonWebKey & { kid?: string; alg?: string };

/** A route as TH_API_ROUTES gives it, before TH_API_ROUTE_OPTIONS and the agent path are applied. */
export interface RouteEntry {
  readonly prefix: string;
  readonly upstream: string;
}

/** One `<prefix>=<option> …` entry of TH_API_ROUTE_OPTIONS. */
export interface RouteOptionsEntry {
  readonly prefix: string;
  readonly entry: string;
  readonly public?: true;
  readonly allowSniffing?: true;
  readonly introspect?: true;
  readonly methods?: readonly string[];
}

/** Comma-separated items, trimmed, empty ones dropped. */
export function list(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function stripTrailingSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

/** http is accepted only for loopback hosts (local development and tests); everything else must be https. */
function parseSecureUrl(name: string, value: string, problems: Problems): URL | undefined {
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

/** `scheme://host[:port]`, nothing more; '' after a problem. */
export function parseOrigin(value: string, name: string, problems: Problems): string {
  const url = parseSecureUrl(name, value, problems);
  if (!url) return '';
  if (url.pathname !== '/' || url.search || url.hash || value.endsWith('/')) {
    problems.push(`${name} must be an origin (scheme://host[:port]) without a path or trailing slash (got "${value}")`);
    return '';
  }
  return url.origin;
}

export function parseOrigins(value: string, name: string, problems: Problems): string[] {
  return list(value).map((origin) => parseOrigin(origin, name, problems));
}

/** The issuer is compared as an exact string with `iss` (RFC 9207, OIDC Core 3.1.3.7), so it is kept as given. */
export function parseIssuer(value: string, name: string, problems: Problems): string {
  const url = parseSecureUrl(name, value, problems);
  if (url && (url.search || url.hash)) problems.push(`${name} must not have a query or fragment`);
  return value;
}

function checkPath(value: string, name: string, problems: Problems, allowQuery: boolean): string {
  if (!value.startsWith('/') || value.startsWith('//') || /[\s\\#]/.test(value) || (!allowQuery && value.includes('?'))) {
    problems.push(`${name} must be an absolute path starting with a single "/" (got "${value}")`);
    return '/';
  }
  return value;
}

/** A page of the SPA on the public origin (a query is allowed). */
export function parsePagePath(value: string, name: string, problems: Problems): string {
  return checkPath(value, name, problems, true);
}

/** The agent's base path: no query, no trailing slash, not "/". */
export function parseAgentPath(value: string, name: string, problems: Problems): string {
  const path = stripTrailingSlash(checkPath(value, name, problems, false));
  if (path === '') problems.push(`${name} must not be "/"`);
  return path;
}

/** `openid` is always requested: without it there is no ID token and no session claims. */
export function parseScope(value: string): string {
  const scopes = value.split(/[\s,]+/).filter(Boolean);
  if (!scopes.includes('openid')) scopes.unshift('openid');
  return [...new Set(scopes)].join(' ');
}

/** Scope names (RFC 6749 §3.3: printable ASCII, no space, `"` or `\`), separated by spaces or commas. */
export function parseScopes(value: string, name: string, problems: Problems): string[] {
  const scopes = [...new Set(value.split(/[\s,]+/).filter(Boolean))];
  for (const scope of scopes) {
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) problems.push(`${name} has an invalid scope "${scope.replace(/[^\x20-\x7E]/g, '?').slice(0, 64)}"`);
  }
  return scopes;
}

/** `<id>:<secret>[,<id>:<secret>…]`; the first seals, every one unseals. */
export function parseCookieKeys(value: string, name: string, problems: Problems): CookieKey[] {
  const keys: CookieKey[] = [];
  const seen = new Set<string>();
  list(value).forEach((entry, index) => {
    const colon = entry.indexOf(':');
    const position = `entry ${index + 1}`;
    if (colon <= 0) {
      problems.push(`${name} ${position} must have the form <id>:<secret>`);
      return;
    }
    const id = entry.slice(0, colon);
    const secret = entry.slice(colon + 1);
    // iron-webcrypto embeds the id in each sealed value and accepts only word characters there.
    if (!/^\w{1,32}$/.test(id)) problems.push(`${name} ${position} has an invalid id (letters, digits and "_" only, at most 32)`);
    else if (seen.has(id)) problems.push(`${name} ${position} repeats the id "${id}"`);
    seen.add(id);
    const weak = weakSecretReason(secret);
    if (weak) problems.push(`${name} key "${id}" ${weak}${weak.startsWith('looks') ? '; use 32 random bytes (openssl rand -base64 32)' : ''}`);
    keys.push({ id, secret });
  });
  if (keys.length === 0) problems.push(`${name} must hold at least one <id>:<secret> key`);
  return keys;
}

/** A private JWK in JSON, for private_key_jwt; `alg` is filled in from the key type when absent. */
export function parsePrivateJwk(value: string, name: string, problems: Problems): PrivateJwk | undefined {
  let jwk: unknown;
  try {
    jwk = JSON.parse(value);
  } catch {
    problems.push(`${name} must be a private JWK in JSON`);
    return undefined;
  }
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) {
    problems.push(`${name} must be a private JWK in JSON`);
    return undefined;
  }
  const key = jwk as PrivateJwk;
  if (!['RSA', 'EC', 'OKP'].includes(String(key.kty))) {
    problems.push(`${name} must be an RSA, EC or OKP key`);
    return undefined;
  }
  if (typeof key.d !== 'string') {
    problems.push(`${name} must be a private key (it has no "d" member)`);
    return undefined;
  }
  const alg = key.alg ?? (key.kty === 'RSA' ? 'RS256' : key.kty === 'EC' ? ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[String(key.crv)] : 'EdDSA');
  if (!alg || !(PRIVATE_KEY_ALGS as readonly string[]).includes(alg)) {
    problems.push(`${name} has an unsupported algorithm; use one of ${PRIVATE_KEY_ALGS.join(', ')}`);
    return undefined;
  }
  return { ...key, alg };
}

/** `<prefix>=<upstream base URL>[,…]`: plain path prefixes, each once, upstreams without query. */
export function parseApiRoutes(value: string, name: string, problems: Problems): RouteEntry[] {
  const routes: RouteEntry[] = [];
  for (const entry of list(value)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      problems.push(`${name} entry "${entry}" must have the form <path prefix>=<upstream base URL>`);
      continue;
    }
    const prefix = stripTrailingSlash(entry.slice(0, eq).trim());
    const upstreamRaw = entry.slice(eq + 1).trim();
    if (!prefix.startsWith('/') || prefix.length < 2 || !/^\/[A-Za-z0-9._~!$&'()*+;:@/-]*$/.test(prefix) || /(^|\/)\.\.?(\/|$)/.test(prefix) || prefix.includes('//')) {
      problems.push(`${name} prefix "${prefix}" must be a plain absolute path such as /api or /api/orders`);
      continue;
    }
    const url = parseSecureUrl(`${name} upstream for ${prefix}`, upstreamRaw, problems);
    if (!url) continue;
    if (url.search || url.hash) {
      problems.push(`${name} upstream for ${prefix} must not have a query or fragment`);
      continue;
    }
    if (routes.some((r) => r.prefix === prefix)) {
      problems.push(`${name} lists the prefix "${prefix}" twice`);
      continue;
    }
    routes.push({ prefix, upstream: url.origin + stripTrailingSlash(url.pathname) });
  }
  return routes;
}

/** `<prefix>=<option>[ <option>…][,…]`; options are `public`, `allow-sniffing`, `introspect` and `methods:GET|POST`. */
export function parseRouteOptions(value: string, name: string, problems: Problems): RouteOptionsEntry[] {
  const entries: RouteOptionsEntry[] = [];
  for (const entry of list(value)) {
    const eq = entry.indexOf('=');
    const prefix = stripTrailingSlash((eq > 0 ? entry.slice(0, eq) : '').trim());
    const options: { public?: true; allowSniffing?: true; introspect?: true; methods?: string[] } = {};
    for (const option of entry.slice(eq + 1).trim().split(/\s+/).filter(Boolean)) {
      if (option === 'public') options.public = true;
      else if (option === 'allow-sniffing') options.allowSniffing = true;
      else if (option === 'introspect') options.introspect = true;
      else if (option.startsWith('methods:')) {
        const methods = option.slice('methods:'.length).split('|').map((m) => m.trim().toUpperCase()).filter(Boolean);
        const bad = methods.filter((m) => !(ROUTE_METHODS as readonly string[]).includes(m));
        if (methods.length === 0 || bad.length > 0) problems.push(`${name} for ${prefix} has unknown methods "${bad.join('|')}"`);
        else options.methods = methods;
      } else problems.push(`${name} for ${prefix} has an unknown option "${option}" (use public, allow-sniffing, introspect or methods:GET|POST)`);
    }
    // A public route sends no token, so there is nothing to introspect: say so rather than pick one.
    if (options.public && options.introspect) problems.push(`${name} for ${prefix} combines public and introspect; a public route sends no token`);
    entries.push({ prefix, entry, ...options });
  }
  return entries;
}

/** Names of extra request parameters: plain names, none of those the token handler sets itself. */
function parameterNames(reserved: readonly string[]) {
  return (value: string, name: string, problems: Problems): string[] => {
    const names = list(value);
    for (const param of names) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(param)) problems.push(`${name} has an invalid parameter name "${param}"`);
      else if (reserved.includes(param)) problems.push(`${name} must not list "${param}", which the token handler sets itself`);
    }
    return names;
  };
}

export const parseAuthParams = parameterNames(RESERVED_AUTH_PARAMS);
export const parseTokenParams = parameterNames(RESERVED_TOKEN_PARAMS);

/** HTTP header names (RFC 9110 tokens), lower-cased. */
export function parseHeaderNames(value: string, name: string, problems: Problems): string[] {
  const headers = list(value).map((h) => h.toLowerCase());
  for (const header of headers) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) problems.push(`${name} has an invalid header name "${header}"`);
  }
  return headers;
}

export function parseSigningAlgs(value: string, name: string, problems: Problems): string[] {
  const algs = list(value);
  for (const alg of algs) {
    if (!(ASYMMETRIC_ALGS as readonly string[]).includes(alg)) {
      problems.push(`${name} may list only asymmetric algorithms (${ASYMMETRIC_ALGS.join(', ')}); "${alg}" is not allowed`);
    }
  }
  return algs;
}

export function parseList(value: string): string[] {
  return list(value);
}
