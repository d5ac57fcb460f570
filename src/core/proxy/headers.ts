/**
 * The API proxy's header rules as pure functions: how the incoming request becomes the upstream
 * request, and the upstream response the answer. Every platform uses these; only the forwarding
 * differs.
 */
import type { ApiRoute, Config } from '../types.js';
import { isOwnCookieName, stripOwnCookies, trimSpaceTab, type CookieNames } from '../session/cookie-table.js';
import type { HeaderView, ResponseHeaderView } from '../ports.js';
import type { RouteMatch } from './routes.js';
import { HeaderBag } from './header-bag.js';

export interface UpstreamRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: HeaderBag;
  /** The route it goes by, whose options also apply to the answer (filterUpstreamResponseHeaders). */
  readonly route: ApiRoute;
}

/** RFC 9110 §7.6.1 hop-by-hop headers (plus the legacy Proxy-Connection, caught by the `proxy-` prefix below). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Request headers never forwarded, besides hop-by-hop ones: those the proxy sets itself, those
 * only the edge may assert, and those that would change what the upstream does behind the
 * proxy's checks (a method override would turn an unchecked GET into a DELETE; a URL override
 * would send the bearer token to a path outside the route).
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
  'x-original-method',
  // URL overrides: IIS URL Rewrite, Symfony and Zend (X-Original-URL, X-Rewrite-URL), nginx
  // auth_request setups (X-Original-URI) and others re-route a request by these, past the route's prefix.
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-override-url',
  'x-http-destinationurl',
  'x-proxy-url',
  // Host overrides, read by some frameworks in place of Host (X-Forwarded-Host is set by the proxy).
  'x-host',
  'x-original-host',
  // Next.js skips its middleware (where an API may check the token) for a request carrying this (CVE-2025-29927).
  'x-middleware-subrequest',
  // The SPA page can still carry the callback's `code` and `state` in its URL.
  'referer',
]);
/**
 * Header families the edge (Cloudflare, CloudFront) or the proxy asserts, so a client's copies are
 * spoofed; `x-envoy-` steers an Envoy upstream (original path, retries, timeouts) that trusts its caller.
 */
const REQUEST_DROP_PREFIXES = ['x-forwarded-', 'proxy-', 'cf-', 'cloudfront-', 'x-amz-cf-', 'x-envoy-'];

/**
 * Response headers never passed back, besides hop-by-hop ones: the token handler owns CORS for
 * its origin (§4), and `Clear-Site-Data` would clear its cookies as surely as a `Set-Cookie`.
 */
const RESPONSE_DROP = new Set(['set-cookie', 'clear-site-data', 'proxy-authenticate', 'proxy-connection']);

/** The lower-case header names listed in `Connection`, which are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(headers: HeaderView): Set<string> | undefined {
  const value = headers.get('connection');
  // The usual value names only a header dropped as hop-by-hop anyway: no set to build.
  if (!value || value.toLowerCase() === 'keep-alive') return undefined;
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
  const headers = new HeaderBag();
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
  return { url: match.route.upstream + match.rest + input.search, method: input.method, headers, route: match.route };
}

/**
 * The name under which a browser will send back the cookie a `Set-Cookie` line sets (RFC 6265bis
 * §5.6). A nameless cookie (`=v`, or no `=` at all) goes back as its bare value, so
 * `=__Host-th-at=x` returns as `__Host-th-at=x`: for those, what precedes the value's `=` is the name.
 */
function returnedCookieName(line: string): string {
  const semi = line.indexOf(';');
  const pair = semi < 0 ? line : line.slice(0, semi);
  const eq = pair.indexOf('=');
  const name = eq < 0 ? '' : trimSpaceTab(pair.slice(0, eq));
  if (name !== '') return name;
  const value = trimSpaceTab(eq < 0 ? pair : pair.slice(eq + 1));
  const inner = value.indexOf('=');
  return inner < 0 ? value : value.slice(0, inner);
}

/**
 * The upstream's response headers (contract §2 step 5) minus hop-by-hop ones, CORS headers (the
 * token handler answers CORS itself, for trusted origins only), `Clear-Site-Data`, and any
 * `Set-Cookie` that would set or clear one of the token handler's cookies (or a look-alike). The
 * answer is served on the SPA's origin, so it carries `X-Content-Type-Options: nosniff` (the only
 * value browsers know, replacing any other) unless the route says `allow-sniffing`; without a
 * route, nosniff.
 */
export function filterUpstreamResponseHeaders(upstream: ResponseHeaderView, names: CookieNames, route?: Pick<ApiRoute, 'nosniff'>): HeaderBag {
  const named = connectionTokens(upstream);
  const headers = new HeaderBag();
  let setCookies = false;
  upstream.forEach((value, name) => {
    if (name === 'set-cookie') setCookies = true;
    if (HOP_BY_HOP.has(name) || RESPONSE_DROP.has(name) || name.startsWith('access-control-') || named?.has(name)) return;
    headers.append(name, value);
  });
  if (setCookies) {
    for (const line of upstream.getSetCookie()) {
      if (!isOwnCookieName(returnedCookieName(line), names)) headers.append('set-cookie', line);
    }
  }
  // Otherwise a browser may sniff an API's text/plain or JSON into HTML and run it on the SPA's origin.
  if (route?.nosniff !== false) headers.set('x-content-type-options', 'nosniff');
  return headers;
}
