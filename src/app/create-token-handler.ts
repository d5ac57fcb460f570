/**
 * `createTokenHandler(config, deps)`: the token handler as one Hono app plus the Hono-free proxy
 * pipeline the platform shells share, built once per process or isolate. Nothing on the request
 * path parses configuration, fetches discovery or imports keys again (those are cached inside the
 * agent).
 */
import { Hono } from 'hono';
import { createAgent, type Agent } from '../core/agent/agent.js';
import { TokenHandlerError } from '../core/errors.js';
import { noMetrics, type Clock, type Metrics, type UpstreamTransport } from '../core/ports.js';
import { createSealer } from '../core/session/cookie-seal.js';
import { createRevocations } from '../core/session/revocation.js';
import { createRefreshCoordination } from '../core/session/refresh-coordination.js';
import type { Config } from '../core/types.js';
import { mountAgentRoutes } from './agent-routes.js';
import type { AppEnv, TokenHandlerDeps } from './context.js';
import { createFetchTransport } from './fetch-transport.js';
import { assertHeaderSize, corsHeaders } from './guards.js';
import { createLogger } from './log.js';
import { dpopFromCookie } from './dpop-token-step.js';
import { createProxyPipeline, type ProxyPipeline } from './proxy-pipeline.js';
import { mountProxyRoutes } from './proxy-routes.js';
import { createRequestLog, type RequestLog } from './request-log.js';
import { withPhantomTokens } from './token-steps.js';
import { mountHealthRoutes } from './health-routes.js';
import { routeLabels, timedFetch, timedTransport } from './instrumentation.js';
import { tracedAgent, tracedFetch, tracedTransport, type Tracing } from './tracing.js';
import { guardStore } from './store-guard.js';

export type { AppEnv, TokenHandlerDeps, WebBody } from './context.js';
export { MAX_COOKIE_HEADER_BYTES, MAX_HEADER_BYTES } from './guards.js';

export interface TokenHandler<B extends object = object> {
  /** The Hono app: mount it, or serve `fetch`. */
  readonly app: Hono<AppEnv<B>>;
  readonly config: Config;
  readonly agent: Agent;
  /** The API proxy without Hono, for a platform's own fast path. */
  readonly proxy: ProxyPipeline;
  readonly log: RequestLog;
  readonly now: Clock;
  /** The app's fetch handler (a Worker's `fetch`, @hono/node-server's handler). */
  fetch(request: Request, env?: B): Response | Promise<Response>;
  /** Hono's `app.request`, for tests and in-process hosts. */
  request(input: string | Request, init?: RequestInit, env?: B): Response | Promise<Response>;
}

/** The transport timed (with metrics) and traced (with tracing); untouched without either. */
export function instrumentTransport<Req, Res>(transport: UpstreamTransport<Req, Res>, deps: { readonly metrics?: Metrics; readonly tracing?: Tracing; readonly now?: Clock }): UpstreamTransport<Req, Res> {
  const timed = deps.metrics && deps.metrics !== noMetrics ? timedTransport(transport, deps.metrics, deps.now ?? Date.now) : transport;
  return deps.tracing ? tracedTransport(timed, deps.tracing) : timed;
}

export function createTokenHandler<B extends object = object>(config: Config, partialDeps: Partial<TokenHandlerDeps<B>> = {}): TokenHandler<B> {
  const deps: TokenHandlerDeps<B> = {
    fetch: (input, init) => fetch(input, init),
    now: Date.now,
    logSink: (line) => console.log(line),
    ...partialDeps,
  };
  const metrics = deps.metrics ?? noMetrics;
  const measured = metrics !== noMetrics;
  const logger = createLogger(config.logLevel, deps.logSink, deps.now);
  const log = createRequestLog(logger, deps.now, deps.logSink, metrics, routeLabels(config));
  const timed = measured ? timedFetch(deps.fetch, metrics, deps.now) : deps.fetch;
  const idpFetch = deps.tracing ? tracedFetch(timed, deps.tracing) : timed;
  const store = deps.sessionStore ? guardStore(deps.sessionStore, logger, deps.now) : undefined;
  const sealer = createSealer(config.cookieKeys, deps.now, deps.unsealCrypto, deps.unsealCache, metrics);
  // Without a shared store, refreshes are still coordinated within this instance when the platform gives it a store of its own.
  const local = !store && deps.localStore ? guardStore(deps.localStore, logger, deps.now) : undefined;
  const refreshStore = store ?? local;
  const refreshes = refreshStore
    ? createRefreshCoordination({ store: refreshStore, sealer, now: deps.now, graceSeconds: config.refreshGrace, waitMs: config.idpTimeout + 2_000 })
    : undefined;
  const shared = store
    ? {
        revocations: createRevocations({ store, cacheTtlMs: config.revocationCacheTtl, now: deps.now, digest: deps.tokenDigest }),
        refreshes: refreshes!,
      }
    : refreshes
      ? { refreshes }
      : {};
  const untraced = createAgent(config, { fetch: idpFetch, now: deps.now }, sealer, shared);
  const agent = deps.tracing ? tracedAgent(untraced, deps.tracing) : untraced;
  // The scheme follows each session's token (DPoP when it is bound to a key, else Bearer), whatever TH_DPOP says now;
  // `introspect` routes forward the JWT the opaque token introspects into instead (introspection timed and traced as an IdP call).
  const proxy = createProxyPipeline(config, agent, log, deps.tokenStep ?? withPhantomTokens(config, agent, dpopFromCookie(agent), { ...deps, fetch: idpFetch }));
  const app = new Hono<AppEnv<B>>();

  app.use('*', async (c, next) => {
    const started = deps.now();
    const requestId = deps.requestId?.(c.env) ?? crypto.randomUUID();
    c.set('requestId', requestId);
    c.set('started', started);
    c.set('log', log);
    c.set('logged', false);
    c.set('corsHeaders', corsHeaders(c.req.header('origin') ?? null, config));
    await next();
    c.res.headers.set('x-request-id', requestId);
    if (!c.get('logged')) log.logged(requestId, c.req.method, new URL(c.req.url).pathname, c.res.status, started);
  });

  app.use('*', async (c, next) => {
    assertHeaderSize(c.req.raw.headers);
    await next();
  });

  // The proxy first: it judges the raw path, so `/api/../oauth-agent/…` is refused as a traversal
  // rather than routed by its normalised form. Prefixes never overlap the agent path (config).
  const transport = instrumentTransport(deps.transport ?? createFetchTransport(), deps);
  if (config.apiRoutes.length > 0) mountProxyRoutes(app, proxy, transport, deps);
  // Readiness asks the shared store, unguarded: an outage is not-ready, not a logged 503 per probe.
  mountHealthRoutes(app, config, agent, deps, deps.sessionStore);
  mountAgentRoutes(app, config, agent);

  app.notFound(() => {
    throw new TokenHandlerError('not_found', { reason: 'path_unknown' });
  });
  app.onError((error, c) => log.rejected(error, c.get('requestId'), c.get('corsHeaders')));

  return {
    app,
    config,
    agent,
    proxy,
    log,
    now: deps.now,
    fetch: (request, env) => app.fetch(request, env),
    request: (input, init, env) => app.request(input, init, env),
  };
}
