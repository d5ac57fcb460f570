/**
 * `createApp(config, deps)`: the token handler as one Hono app, the same on every platform. It is
 * built once per process or isolate; nothing on the request path parses configuration, fetches
 * discovery or imports keys again (those are cached inside the agent).
 */
import { Hono } from 'hono';
import type { Config } from '../config/parse-config.js';
import { createAgent } from '../core/agent.js';
import { createSealer } from '../core/cookie-seal.js';
import { TokenHandlerError, isTokenHandlerError } from '../core/errors.js';
import { mountAgentRoutes } from './agent-routes.js';
import type { AppDeps, AppEnv } from './context.js';
import { corsHeaders } from './guards.js';
import { createLogger, describeCause } from './log.js';
import { mountProxyRoutes } from './proxy-routes.js';
import { errorResponse } from './responses.js';

export type { AppDeps, AppEnv } from './context.js';

/** Twice the session's cookie budget (MAX_SESSION_COOKIE_BYTES), and the older Cloudflare total of 32 KB for every header. */
export const MAX_COOKIE_HEADER_BYTES = 32 * 1024;
export const MAX_HEADER_BYTES = 48 * 1024;

export function createApp(config: Config, partialDeps: Partial<AppDeps> = {}) {
  const deps: AppDeps = {
    fetch: partialDeps.fetch ?? ((input, init) => fetch(input, init)),
    now: partialDeps.now ?? Date.now,
    logSink: partialDeps.logSink ?? ((line) => console.log(line)),
    upstreamBodyDecoded: partialDeps.upstreamBodyDecoded ?? false,
    ...(partialDeps.clientIp ? { clientIp: partialDeps.clientIp } : {}),
    ...(partialDeps.requestTarget ? { requestTarget: partialDeps.requestTarget } : {}),
    ...(partialDeps.forward ? { forward: partialDeps.forward } : {}),
    ...(partialDeps.upstreamFetch ? { upstreamFetch: partialDeps.upstreamFetch } : {}),
    ...(partialDeps.unsealCrypto ? { unsealCrypto: partialDeps.unsealCrypto } : {}),
  };
  const logger = createLogger(config.logLevel, deps.logSink, deps.now);
  const agent = createAgent(config, { fetch: deps.fetch, now: deps.now }, createSealer(config.cookieKeys, deps.now, deps.unsealCrypto));
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const started = deps.now();
    const requestId = crypto.randomUUID();
    c.set('requestId', requestId);
    c.set('corsHeaders', corsHeaders(c.req.header('origin') ?? null, config));
    c.set('logEvent', (name, fields = {}) => logger.log('info', 'security_event', { ...fields, event: name, request_id: requestId }));
    await next();
    c.res.headers.set('x-request-id', requestId);
    // The path only: query strings can hold codes and states (OP-01).
    logger.log('info', 'request', {
      request_id: requestId,
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status: c.res.status,
      duration_ms: deps.now() - started,
    });
  });

  // Refused before any parsing: on platforms with generous limits (Workers allows 128 KB) nobody
  // legitimate sends this much, and the token handler never sets more than a session's budget.
  app.use('*', async (c, next) => {
    let size = 0;
    c.req.raw.headers.forEach((value, name) => {
      size += name.length + value.length + 4;
    });
    const cookie = c.req.raw.headers.get('cookie')?.length ?? 0;
    if (cookie > MAX_COOKIE_HEADER_BYTES || size > MAX_HEADER_BYTES) {
      throw new TokenHandlerError('request_header_too_large', 'The request headers are too large', { reason: cookie > MAX_COOKIE_HEADER_BYTES ? 'cookie_header_too_large' : 'headers_too_large' });
    }
    await next();
  });

  // The proxy first: it judges the raw path, so `/api/../oauth-agent/…` is refused as a traversal
  // rather than routed by its normalised form. Prefixes never overlap the agent path (config).
  mountProxyRoutes(app, config, agent, deps);
  mountAgentRoutes(app, config, agent);

  app.notFound(() => {
    throw new TokenHandlerError('not_found', 'There is no such endpoint', { reason: 'path_unknown' });
  });

  app.onError((error, c) => {
    const requestId = c.get('requestId');
    if (isTokenHandlerError(error)) {
      const level = error.status >= 500 ? 'warn' : 'info';
      logger.log(level, 'request_rejected', {
        request_id: requestId,
        code: error.wireCode,
        reason: error.reason,
        status: error.status,
        cause: describeCause(error.cause),
      });
      return errorResponse(error, c.get('corsHeaders'));
    }
    // Anything else is a bug: log what it was, answer without a stack trace.
    logger.log('error', 'unexpected_error', { request_id: requestId, cause: describeCause(error) });
    return errorResponse(new TokenHandlerError('server_error', 'The token handler failed unexpectedly'), c.get('corsHeaders'));
  });

  return Object.assign(app, { agent });
}

export type TokenHandlerApp = ReturnType<typeof createApp>;
