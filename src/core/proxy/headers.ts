/**
 * The API proxy's header rules as pure functions: how the incoming request becomes the upstream
 * request, and the upstream response the answer. Every platform uses these; only the forwarding
 * differs.
 */
import type { Config } from '../types.js';
import { isOwnCookieName, stripOwnCookies, type CookieNames } from '../session/cookie-table.js';
import type { HeaderView, ResponseHeaderView } from '../ports.js';
import type { RouteMatch } from './routes.js';

export interface UpstreamRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
}

/** RFC 9110 §7.6.1 hop-by-hop headers (plus the legacy Proxy-Connection, caught by the `proxy-` prefix below). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Request headers never forwarded, besides hop-by-hop ones: those the proxy sets itself, those
 * only the edge may assert, and those that would change what the upstream does behind the
 * proxy's checks (a method override would turn an unchecked GET into a DELETE).
 */
const REQUEST_DROP = new Set([
  'host',
  'authorization',
  'cookie',
  'token-handler-version',
  'forwarded',
  'x-real-ip',
  'true-client-ip',
  // The platform frames the forwarded body itself; undici refuses `Expect` outright.
  'expect',
  // A DPoP proof is bound to a key the browser does not hold for our token.
  'dpop',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  // The SPA page can still carry the callback's `code` and `state` in its URL.
  'referer',
]);
/** Header families the edge (Cloudflare, CloudFront) or the proxy asserts; a client's copies are spoofed. */
const REQUEST_DROP_PREFIXES = ['x-forwarded-', 'proxy-', 'cf-', 'cloudfront-', 'x-amz-cf-'];

/**
 * Response headers never passed back, besides hop-by-hop ones: the token handler owns CORS for
 * its origin (§4), and `Clear-Site-Data` would clear its cookies as surely as a `Set-Cookie`.
 */
const RESPONSE_DROP = new Set(['set-cookie', 'clear-site-data', 'proxy-authenticate', 'proxy-connection']);

/** The lower-case header names listed in `Connection`, which are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(headers: HeaderView): Set<string> | undefined {
  const value = headers.get('connection');
  if (!value) return undefined;
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

function hasDroppedPrefix(name: string): boolean {
  for (const prefix of REQUEST_DROP_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

export interface RewriteInput {
  readonly method: string;
  /** The query string including `?`, or ''. */
  readonly search: string;
  readonly headers: HeaderView;
  /** The caller's address as the platform saw it, if known. */
  readonly clientIp?: string;
}

/**
 * The upstream request for a matched route (contract §2 step 4). `authorization` is the header
 * value the token step chose (`Bearer …`, later `DPoP …`); undefined only for public routes, which
 * then go without `Authorization`. The URL is the route's upstream plus the
 * rest of the path and the query: never anything the client chose beyond that.
 */
export function rewriteUpstreamRequest(
  input: RewriteInput,
  match: RouteMatch,
  authorization: string | undefined,
  config: Pick<Config, 'publicProto' | 'publicHost'>,
  names: CookieNames,
): UpstreamRequest {
  // Read before iterating: a second Cookie line may reach us joined with ', ' and is handled there.
  const cookie = stripOwnCookies(input.headers.get('cookie'), names);
  const named = connectionTokens(input.headers);
  const bodyless = input.method === 'GET' || input.method === 'HEAD';
  const headers = new Headers();
  input.headers.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || REQUEST_DROP.has(name) || hasDroppedPrefix(name) || named?.has(name)) return;
    // A GET or HEAD goes without a body, so a length the client claimed for one would be a lie.
    if (bodyless && name === 'content-length') return;
    headers.append(name, value);
  });
  // `Connection: cookie` makes even the other cookies hop-by-hop (RFC 9110 §7.6.1).
  if (cookie && !named?.has('cookie')) headers.set('cookie', cookie);
  if (authorization !== undefined) headers.set('authorization', authorization);
  if (input.clientIp) headers.set('x-forwarded-for', input.clientIp);
  // From the configured public origin, never from the request.
  headers.set('x-forwarded-proto', config.publicProto);
  headers.set('x-forwarded-host', config.publicHost);
  return { url: match.route.upstream + match.rest + input.search, method: input.method, headers };
}

/**
 * The upstream's response headers (contract §2 step 5) minus hop-by-hop ones, CORS headers (the
 * token handler answers CORS itself, for trusted origins only), `Clear-Site-Data`, and any
 * `Set-Cookie` that would set or clear one of the token handler's cookies.
 */
export function filterUpstreamResponseHeaders(upstream: ResponseHeaderView, names: CookieNames): Headers {
  const named = connectionTokens(upstream);
  const headers = new Headers();
  let setCookies = false;
  upstream.forEach((value, name) => {
    if (name === 'set-cookie') setCookies = true;
    if (HOP_BY_HOP.has(name) || RESPONSE_DROP.has(name) || name.startsWith('access-control-') || named?.has(name)) return;
    headers.append(name, value);
  });
  if (setCookies) {
    for (const line of upstream.getSetCookie()) {
      const eq = line.indexOf('=');
      const semi = line.indexOf(';');
      // A line without `=` before any `;` sets a nameless cookie whose value is that text (RFC 6265 §5.2).
      const name = (eq < 0 || (semi >= 0 && semi < eq) ? line.slice(0, semi < 0 ? undefined : semi) : line.slice(0, eq)).trim();
      if (isOwnCookieName(name, names)) continue;
      headers.append('set-cookie', line);
    }
  }
  return headers;
}
