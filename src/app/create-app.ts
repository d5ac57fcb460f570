/**
 * `createApp(config, deps)`: the token handler as one Hono app, the same on every platform. It is
 * built once per process or isolate; nothing on the request path parses configuration, fetches
 * discovery or imports keys again (those are cached inside the agent).
 */
import { Hono } from 'hono';
import type { Config } from '../core/types.js';
import { createAgent } from '../core/agent/agent.js';
import { createSealer } from '../core/session/cookie-seal.js';
import { TokenHandlerError, isTokenHandlerError } from '../core/errors.js';
import { mountAgentRoutes } from './agent-routes.js';
import { mountHealthRoutes } from './health-routes.js';
import type { AppDeps, AppEnv } from './context.js';
import { assertHeaderSize, corsHeaders } from './guards.js';
import { createLogger, describeCause } from './log.js';
import { createProxyDecider } from './proxy-decision.js';
import { mountProxyRoutes } from './proxy-routes.js';
import { errorResponse } from './responses.js';

export type { AppDeps, AppEnv } from './context.js';
export { MAX_COOKIE_HEADER_BYTES, MAX_HEADER_BYTES } from './guards.js';

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
    ...(partialDeps.shuttingDown ? { shuttingDown: partialDeps.shuttingDown } : {}),
  };
  const logger = createLogger(config.logLevel, deps.logSink, deps.now);
  const agent = createAgent(config, { fetch: deps.fetch, now: deps.now }, createSealer(config.cookieKeys, deps.now, deps.unsealCrypto));
  const app = new Hono<AppEnv>();

  /** What every answer shares, with or without Hono: the request log line and the error answer. */
  const requests = {
    /** The per-request line; the path only, as query strings can hold codes and states (OP-01). */
    logged(requestId: string, method: string, path: string, status: number, started: number): void {
      logger.log('info', 'request', { request_id: requestId, method, path, status, duration_ms: deps.now() - started });
    },
    rejected(error: unknown, requestId: string, cors: Headers | undefined): Response {
      if (isTokenHandlerError(error)) {
        const level = error.status >= 500 ? 'warn' : 'info';
        logger.log(level, 'request_rejected', {
          request_id: requestId,
          code: error.wireCode,
          reason: error.reason,
          status: error.status,
          cause: describeCause(error.cause),
        });
        return errorResponse(error, cors);
      }
      // Anything else is a bug: log what it was, answer without a stack trace.
      logger.log('error', 'unexpected_error', { request_id: requestId, cause: describeCause(error) });
      return errorResponse(new TokenHandlerError('server_error', 'The token handler failed unexpectedly'), cors);
    },
  };

  app.use('*', async (c, next) => {
    const started = deps.now();
    const requestId = crypto.randomUUID();
    c.set('requestId', requestId);
    c.set('corsHeaders', corsHeaders(c.req.header('origin') ?? null, config));
    c.set('logEvent', (name, fields = {}) => logger.log('info', 'security_event', { ...fields, event: name, request_id: requestId }));
    await next();
    c.res.headers.set('x-request-id', requestId);
    requests.logged(requestId, c.req.method, new URL(c.req.url).pathname, c.res.status, started);
  });

  app.use('*', async (c, next) => {
    assertHeaderSize(c.req.raw.headers);
    await next();
  });

  // The proxy first: it judges the raw path, so `/api/../oauth-agent/…` is refused as a traversal
  // rather than routed by its normalised form. Prefixes never overlap the agent path (config).
  const decideProxy = createProxyDecider(config, agent);
  mountProxyRoutes(app, config, agent, deps, decideProxy);
  mountHealthRoutes(app, config, agent, deps);
  mountAgentRoutes(app, config, agent);

  app.notFound(() => {
    throw new TokenHandlerError('not_found', 'There is no such endpoint', { reason: 'path_unknown' });
  });

  app.onError((error, c) => requests.rejected(error, c.get('requestId'), c.get('corsHeaders')));

  // The Node adapter's fast path for API routes (adapters/node/fast-path.ts) runs these same pieces without Hono.
  return Object.assign(app, { agent, decideProxy, requests, config, now: deps.now });
}

export type TokenHandlerApp = ReturnType<typeof createApp>;
