/**
 * Which API route a request path belongs to (contract §2): longest prefix on a `/` boundary.
 */
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
