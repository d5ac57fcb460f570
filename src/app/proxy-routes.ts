/**
 * The API proxy (contract §2): match the route, run the guards, unseal the access token, and
 * forward with `Authorization: Bearer`, streaming bodies both ways.
 */
import type { Context, Hono } from 'hono';
import type { Config } from '../config/parse-config.js';
import type { Agent } from '../core/agent.js';
import { parseCookieHeader } from '../core/cookies.js';
import { TokenHandlerError } from '../core/errors.js';
import { assertSafePath, filterUpstreamResponseHeaders, matchRoute, rewriteUpstreamRequest, type UpstreamRequest } from '../core/proxy.js';
import { STATE_CHANGING, assertCsrfSafe, preflightHeaders } from './guards.js';
import type { AppDeps, AppEnv } from './context.js';

const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export function mountProxyRoutes(app: Hono<AppEnv>, config: Config, agent: Agent, deps: AppDeps): void {
  if (config.apiRoutes.length === 0) return;
  app.all('*', async (c, next) => {
    const url = new URL(c.req.url);
    const match = matchRoute(config.apiRoutes, url.pathname);
    if (!match) return next();
    assertSafePath(url.pathname);
    const method = c.req.method;
    const methods = match.route.methods ?? DEFAULT_METHODS;

    if (method === 'OPTIONS') {
      return new Response(null, { status: 204, headers: preflightHeaders(c.req.header('origin') ?? null, methods, config) });
    }
    if (!methods.includes(method)) {
      throw new TokenHandlerError('method_not_allowed', 'The method is not allowed on this route', { allow: methods.join(', '), reason: 'proxy_method_not_allowed' });
    }
    if (STATE_CHANGING.has(method)) assertCsrfSafe(c.req.raw.headers, config);

    let accessToken: string | undefined;
    if (!match.route.public) {
      const at = await agent.readAccessToken(parseCookieHeader(c.req.header('cookie')));
      if (!at) throw new TokenHandlerError('unauthorized_request', 'No valid session', { reason: 'no_access_token' });
      if (at.expired) throw new TokenHandlerError('token_expired', 'The access token has expired', { reason: 'access_token_expired' });
      accessToken = at.token;
    }
    const upstream = rewriteUpstreamRequest(
      { method, search: url.search, headers: c.req.raw.headers, ...optionalIp(deps.clientIp?.(c)) },
      match,
      accessToken,
      config,
      agent.names,
    );
    return deps.forward ? deps.forward(upstream, c) : forward(c, upstream, config, agent, deps);
  });
}

function optionalIp(ip: string | undefined): { clientIp?: string } {
  return ip ? { clientIp: ip } : {};
}

async function forward(c: Context<AppEnv>, upstream: UpstreamRequest, config: Config, agent: Agent, deps: AppDeps): Promise<Response> {
  const hasBody = upstream.method !== 'GET' && upstream.method !== 'HEAD' && c.req.raw.body !== null;
  // The timeout covers the wait for the upstream's headers, not the streaming of a long body.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('upstream timeout')), config.upstreamTimeout);
  let response: Response;
  try {
    response = await deps.fetch(upstream.url, {
      method: upstream.method,
      headers: upstream.headers,
      body: hasBody ? c.req.raw.body : null,
      redirect: 'manual',
      signal: controller.signal,
      ...(hasBody ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (cause) {
    throw new TokenHandlerError('upstream_unavailable', 'The API could not be reached', {
      cause,
      reason: controller.signal.aborted ? 'upstream_timeout' : 'upstream_unreachable',
    });
  } finally {
    clearTimeout(timer);
  }
  const headers = filterUpstreamResponseHeaders(response.headers, agent.names);
  if (deps.upstreamBodyDecoded) {
    // Node's fetch has already decoded a compressed body; passing the old encoding on would corrupt it.
    if (headers.has('content-encoding')) {
      headers.delete('content-encoding');
      headers.delete('content-length');
    }
  }
  const cors = c.get('corsHeaders');
  cors?.forEach((value, name) => headers.set(name, value));
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
