/**
 * The API proxy's rules as pure functions: which route a path belongs to, whether the path tries
 * to climb out of it, and how the incoming request becomes the upstream request (and the upstream
 * response the answer). Every platform uses these; only the forwarding differs.
 */
import type { ApiRoute, Config } from '../config/parse-config.js';
import { stripOwnCookies, type CookieNames } from './cookies.js';
import { TokenHandlerError } from './errors.js';

export interface RouteMatch {
  readonly route: ApiRoute;
  /** The raw (still percent-encoded) path after the prefix, '' or starting with '/'. */
  readonly rest: string;
}

export interface UpstreamRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
}

/** RFC 9110 §7.6.1 hop-by-hop headers, plus the legacy Proxy-Connection. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** Longest prefix wins; a prefix matches only on a `/` boundary (`/api/orders` never matches `/api/ordersx`). */
export function matchRoute(routes: readonly ApiRoute[], rawPath: string): RouteMatch | undefined {
  let best: RouteMatch | undefined;
  for (const route of routes) {
    if (rawPath === route.prefix || rawPath.startsWith(route.prefix + '/')) {
      if (!best || route.prefix.length > best.route.prefix.length) best = { route, rest: rawPath.slice(route.prefix.length) };
    }
  }
  return best;
}

/**
 * Refuses any path that could reach outside its route once some server along the way decodes or
 * normalises it: dot segments (also percent-encoded, once or more), encoded slashes and
 * backslashes, raw backslashes and control characters.
 */
export function assertSafePath(rawPath: string): void {
  const refuse = (reason: string) => new TokenHandlerError('invalid_request', 'The request path is not allowed', { reason });
  if (!rawPath.startsWith('/')) throw refuse('path_not_absolute');
  let current = rawPath;
  for (let depth = 0; depth < 4; depth++) {
    if (/[\\\u0000-\u001f\u007f]/.test(current)) throw refuse('path_bad_character');
    if (/%(2f|5c|00)/i.test(current)) throw refuse('path_encoded_separator');
    if (current.split('/').some((segment) => segment === '..' || segment === '.')) throw refuse('path_dot_segment');
    if (!current.includes('%')) return;
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      throw refuse('path_bad_encoding');
    }
    if (decoded === current) return;
    current = decoded;
  }
  // Still changing after several rounds of decoding: nobody legitimate encodes that deep.
  throw refuse('path_encoded_too_deep');
}

function connectionTokens(headers: Headers): string[] {
  return (headers.get('connection') ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
}

export interface RewriteInput {
  readonly method: string;
  /** The query string including `?`, or ''. */
  readonly search: string;
  readonly headers: Headers;
  /** The caller's address as the platform saw it, if known. */
  readonly clientIp?: string;
}

/** The upstream request for a matched route; `accessToken` is undefined only for public routes. */
export function rewriteUpstreamRequest(
  input: RewriteInput,
  match: RouteMatch,
  accessToken: string | undefined,
  config: Pick<Config, 'publicOrigin'>,
  names: CookieNames,
): UpstreamRequest {
  const headers = new Headers();
  const drop = new Set([
    ...HOP_BY_HOP,
    ...connectionTokens(input.headers),
    'host',
    'authorization',
    'cookie',
    'token-handler-version',
    'forwarded',
    'x-real-ip',
    'content-length',
  ]);
  input.headers.forEach((value, name) => {
    // Forwarding headers are the edge's to set; a client's values are spoofable.
    if (drop.has(name) || name.startsWith('x-forwarded-')) return;
    headers.append(name, value);
  });
  const cookie = stripOwnCookies(input.headers.get('cookie'), names);
  if (cookie) headers.set('cookie', cookie);
  if (accessToken !== undefined) headers.set('authorization', `Bearer ${accessToken}`);
  const origin = new URL(config.publicOrigin);
  if (input.clientIp) headers.set('x-forwarded-for', input.clientIp);
  headers.set('x-forwarded-proto', origin.protocol.slice(0, -1));
  headers.set('x-forwarded-host', origin.host);
  return { url: match.route.upstream + match.rest + input.search, method: input.method, headers };
}

/** The upstream's response headers minus hop-by-hop ones and any `Set-Cookie` touching our cookies. */
export function filterUpstreamResponseHeaders(upstream: Headers, names: CookieNames): Headers {
  const drop = new Set([...HOP_BY_HOP, ...connectionTokens(upstream)]);
  const own = names.all.map((n) => n.toLowerCase());
  const headers = new Headers();
  upstream.forEach((value, name) => {
    if (drop.has(name) || name === 'set-cookie') return;
    headers.append(name, value);
  });
  for (const setCookie of upstream.getSetCookie()) {
    const cookieName = setCookie.slice(0, Math.max(0, setCookie.indexOf('='))).trim().toLowerCase().replace(/\.\d+$/, '');
    if (own.includes(cookieName)) continue;
    headers.append('set-cookie', setCookie);
  }
  return headers;
}
