/**
 * Which API route a request path belongs to (contract §2): longest prefix on a `/` boundary.
 */
import type { UpstreamOrigin } from '../ports.js';
import type { ApiRoute } from '../types.js';

export interface RouteMatch {
  readonly route: ApiRoute;
  /** The raw (still percent-encoded) path after the prefix, '' or starting with '/'. */
  readonly rest: string;
}

/** Longest prefix wins; a prefix matches only on a `/` boundary (`/api/orders` never matches `/api/ordersx`). */
export function matchRoute(routes: readonly ApiRoute[], rawPath: string): RouteMatch | undefined {
  let best: ApiRoute | undefined;
  for (const route of routes) {
    const prefix = route.prefix;
    if (rawPath.startsWith(prefix) && (rawPath.length === prefix.length || rawPath.charCodeAt(prefix.length) === 47 /* / */)) {
      if (!best || prefix.length > best.prefix.length) best = route;
    }
  }
  return best && { route: best, rest: rawPath.slice(best.prefix.length) };
}

/**
 * Every route whose upstream base holds `url` (on a `/` boundary): how an answer is traced back to
 * its route where only the forwarded request is left (Lambda@Edge origin-response).
 */
export function routesByUpstream(routes: readonly ApiRoute[], url: string): ApiRoute[] {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return [];
  }
  return routes.filter((route) => {
    const base = new URL(route.upstream);
    const path = base.pathname === '/' ? '' : base.pathname;
    return base.origin === target.origin && (target.pathname === path || target.pathname.startsWith(`${path}/`));
  });
}

/** A route's upstream base URL in pieces, parsed once: the routes are fixed config. */
export interface UpstreamBase {
  readonly origin: UpstreamOrigin;
  /** The base URL's path without a trailing slash ('' for none). */
  readonly path: string;
  /** The route's upstream as written: parsed again with the request's rest where the pieces would not give what URL parsing gives. */
  readonly url: string;
  /** Whether `url` is already as URL parsing serialises it (config makes it so), so the pieces may be joined as they are. */
  readonly serialised: boolean;
}

export function parseUpstreamBase(upstream: string): UpstreamBase {
  const url = new URL(upstream);
  const path = url.pathname === '/' ? '' : url.pathname;
  const origin: UpstreamOrigin = { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, host: url.host };
  return { origin, path, url: upstream, serialised: `${url.protocol}//${url.host}${path}` === upstream && !url.search && !url.hash };
}

/**
 * Characters URL parsing leaves as they are in a path and a query, and no segment starting with a
 * dot (`.`, `..`, `%2e` are resolved): a rest and query made of these need no parse.
 */
const UNCHANGED_BY_URL = /^[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*$/;
const DOT_SEGMENT_START = /\/\.|%2e/i;

/**
 * The request target sent upstream (path and query) for the route's `rest` and the query
 * (`search`), exactly as `new URL(base + rest + search)` gives `pathname + search`: joined from the
 * parsed pieces where parsing would change nothing (an ordinary API path), parsed otherwise.
 */
export function upstreamPath(base: UpstreamBase, rest: string, search: string): string {
  const tail = rest + search;
  // A bare `?` is an empty query, which URL parsing drops.
  if (base.serialised && search !== '?' && UNCHANGED_BY_URL.test(tail) && !DOT_SEGMENT_START.test(tail)) {
    const path = base.path + tail;
    return path === '' || path.charCodeAt(0) === 63 /* ? */ ? `/${path}` : path;
  }
  const url = new URL(base.url + tail);
  return url.pathname + url.search;
}
