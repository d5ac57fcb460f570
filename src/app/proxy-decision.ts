/**
 * Every rule of the API proxy (contract §2, §4) up to the point where the request goes upstream,
 * as one function of the request: the Hono route (every platform) and the Node adapter's fast path
 * both call it, so a rule cannot hold on one and not the other. Refusals are thrown as
 * TokenHandlerError, which each caller answers with the same JSON error and log line.
 */
import type { Config } from '../core/types.js';
import type { Agent } from '../core/agent/agent.js';
import { parseCookieHeader } from '../core/session/cookie-table.js';
import { TokenHandlerError } from '../core/errors.js';
import type { HeaderView } from '../core/ports.js';
import { rewriteUpstreamRequest, type UpstreamRequest } from '../core/proxy/headers.js';
import { assertSafePath } from '../core/proxy/path-safety.js';
import { matchRoute } from '../core/proxy/routes.js';
import { STATE_CHANGING, assertCsrfSafe, preflightHeaders } from './guards.js';

const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export interface ProxyInput {
  readonly method: string;
  /**
   * The path (still percent-encoded) and query as the client sent them, where the platform keeps
   * the request target; otherwise from the parsed URL, whose dot segments are already resolved.
   */
  readonly target: string;
  readonly headers: HeaderView;
  readonly clientIp?: string | undefined;
}

export type ProxyDecision =
  /** Not an API route: the agent routes or `not_found` answer it. */
  | { readonly kind: 'pass' }
  | { readonly kind: 'preflight'; readonly headers: Headers }
  | { readonly kind: 'forward'; readonly upstream: UpstreamRequest };

export type DecideProxy = (input: ProxyInput) => Promise<ProxyDecision>;

export function createProxyDecider(config: Config, agent: Agent): DecideProxy {
  return async ({ method, target, headers, clientIp }) => {
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const search = q < 0 ? '' : target.slice(q);
    const match = matchRoute(config.apiRoutes, path);
    if (!match) {
      // A target that reaches a route only once its dot segments are resolved (`/x/../api/…`) is
      // a traversal, not an unknown path: refuse it as one.
      const parsed = new URL(`http://localhost${path}`).pathname;
      if (path !== parsed && matchRoute(config.apiRoutes, parsed)) {
        assertSafePath(path);
        throw new TokenHandlerError('invalid_request', 'The request path is not allowed', { reason: 'path_normalises_into_route' });
      }
      return { kind: 'pass' };
    }
    assertSafePath(path);
    const methods = match.route.methods ?? DEFAULT_METHODS;

    if (method === 'OPTIONS') return { kind: 'preflight', headers: preflightHeaders(headers.get('origin'), methods, config) };
    if (!methods.includes(method)) {
      throw new TokenHandlerError('method_not_allowed', 'The method is not allowed on this route', { allow: methods.join(', '), reason: 'proxy_method_not_allowed' });
    }
    if (STATE_CHANGING.has(method)) assertCsrfSafe(headers, config);

    let accessToken: string | undefined;
    if (!match.route.public) {
      const at = await agent.readAccessToken(parseCookieHeader(headers.get('cookie') ?? undefined));
      if (!at) throw new TokenHandlerError('unauthorized_request', 'No valid session', { reason: 'no_access_token' });
      if (at.expired) throw new TokenHandlerError('token_expired', 'The access token has expired', { reason: 'access_token_expired' });
      accessToken = at.token;
    }
    const upstream = rewriteUpstreamRequest({ method, search, headers, ...(clientIp ? { clientIp } : {}) }, match, accessToken, config, agent.names);
    return { kind: 'forward', upstream };
  };
}
