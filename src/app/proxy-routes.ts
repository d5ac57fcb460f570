/**
 * The API proxy as a Hono route: a thin shell over the proxy pipeline (Workers, Lambda@Edge, and
 * Node when the app is mounted by `fetch`; the Node server itself takes API routes on its fast path).
 */
import type { Context, Hono } from 'hono';
import type { UpstreamTransport } from '../core/ports.js';
import type { AppEnv, TokenHandlerDeps, WebBody } from './context.js';
import type { ProxyPipeline, ProxyRequest } from './proxy-pipeline.js';

export function mountProxyRoutes<B extends object>(
  app: Hono<AppEnv<B>>,
  pipeline: ProxyPipeline,
  transport: UpstreamTransport<WebBody, WebBody>,
  deps: Pick<TokenHandlerDeps<B>, 'handOff' | 'clientIp' | 'requestTarget'>,
): void {
  app.all('*', async (c, next) => {
    const target = requestTarget(c, deps);
    const claim = pipeline.claims(target);
    if (!claim) return next();
    c.set('logged', true);
    const request: ProxyRequest<WebBody> = {
      requestId: c.get('requestId'),
      started: c.get('started'),
      method: c.req.method,
      target,
      headers: c.req.raw.headers,
      clientIp: deps.clientIp?.(c.env, c.req.raw),
      body: c.req.raw.body,
    };
    if (deps.handOff) {
      try {
        const prepared = await pipeline.prepare(request, claim);
        if (prepared.kind === 'pass') {
          c.set('logged', false);
          return next();
        }
        if (prepared.kind === 'answer') return pipeline.answered(request, prepared.response);
        const response = await deps.handOff(prepared, c.env);
        pipeline.handedOff(request, prepared);
        return response;
      } catch (error) {
        return pipeline.refuse(request, error);
      }
    }
    const result = await pipeline.handle(request, transport, claim);
    if (result.kind === 'pass') return next();
    if (result.kind === 'answer') return result.response;
    return new Response(result.body, { status: result.status, statusText: result.statusText, headers: result.headers.pairs() });
  });
}

/**
 * The path (still percent-encoded) and query as the client sent them, where the platform keeps the
 * request target; otherwise from the parsed URL, whose dot segments are already resolved.
 */
function requestTarget<B extends object>(c: Context<AppEnv<B>>, deps: Pick<TokenHandlerDeps<B>, 'requestTarget'>): string {
  const target = deps.requestTarget?.(c.env);
  if (target !== undefined && target.startsWith('/')) return target;
  const url = new URL(c.req.url);
  return url.pathname + url.search;
}
