/**
 * The API proxy (contract §2): match the route, run the guards, unseal the access token, and
 * forward with `Authorization: Bearer`, streaming bodies both ways.
 */
import type { Context, Hono } from 'hono';
import type { Config } from '../core/types.js';
import type { Agent } from '../core/agent/agent.js';
import { TokenHandlerError } from '../core/errors.js';
import { bodyWasDecoded, filterUpstreamResponseHeaders, narrowAcceptEncoding, type UpstreamRequest } from '../core/proxy/headers.js';
import type { AppDeps, AppEnv } from './context.js';
import type { DecideProxy } from './proxy-decision.js';

/** Statuses whose responses never carry a body (and HEAD answers neither). */
export const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

export function mountProxyRoutes(app: Hono<AppEnv>, config: Config, agent: Agent, deps: AppDeps, decide: DecideProxy): void {
  if (config.apiRoutes.length === 0) return;
  app.all('*', async (c, next) => {
    const ip = deps.clientIp?.(c);
    const decision = await decide({ method: c.req.method, target: requestTarget(c, deps), headers: c.req.raw.headers, clientIp: ip });
    if (decision.kind === 'pass') return next();
    if (decision.kind === 'preflight') return new Response(null, { status: 204, headers: decision.headers });
    return deps.forward ? deps.forward(decision.upstream, c) : forward(c, decision.upstream, config, agent, deps);
  });
}

/**
 * The path (still percent-encoded) and query as the client sent them, where the platform keeps the
 * request target; otherwise from the parsed URL, whose dot segments are already resolved.
 */
function requestTarget(c: Context<AppEnv>, deps: AppDeps): string {
  const target = deps.requestTarget?.(c);
  if (target !== undefined && target.startsWith('/')) return target;
  const url = new URL(c.req.url);
  return url.pathname + url.search;
}

async function forward(c: Context<AppEnv>, upstream: UpstreamRequest, config: Config, agent: Agent, deps: AppDeps): Promise<Response> {
  const method = upstream.method;
  if (deps.upstreamBodyDecoded) narrowAcceptEncoding(upstream.headers);
  // The timeout covers the wait for the upstream's answer once the request has gone out: not a
  // long upload (the upstream cannot answer before it has the body), nor the streaming of a long
  // response. A client that goes away is the platform's to handle: its request body errors, and
  // the response stream it no longer reads is cancelled, which closes the upstream call.
  const timeout = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let answered = false;
  const startTimer = () => {
    // An upstream may answer before the body has all arrived (a 413, a streaming echo): no timer then.
    if (!answered) timer = setTimeout(() => timeout.abort(new Error('upstream timeout')), config.upstreamTimeout);
  };
  let body: ReadableStream<Uint8Array> | null = method === 'GET' || method === 'HEAD' ? null : c.req.raw.body;
  if (body) body = body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: startTimer }));
  else startTimer();
  let response: Response;
  try {
    response = await (deps.upstreamFetch ?? deps.fetch)(upstream.url, {
      method,
      headers: upstream.headers,
      body,
      redirect: 'manual',
      signal: timeout.signal,
      ...(body ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (cause) {
    throw new TokenHandlerError('upstream_unavailable', 'The API could not be reached', {
      cause,
      reason: timeout.signal.aborted ? 'upstream_timeout' : 'upstream_unreachable',
    });
  } finally {
    answered = true;
    clearTimeout(timer);
  }
  if (response.status < 200 || response.status > 599) {
    // A status the Fetch API cannot carry on (e.g. 600): the upstream is broken, not the token handler.
    void response.body?.cancel().catch(() => {});
    throw new TokenHandlerError('upstream_unavailable', 'The API answered with an invalid response', { reason: 'upstream_bad_status' });
  }
  const headers = filterUpstreamResponseHeaders(response.headers, agent.names, upstream.route);
  // Node's global fetch has already decoded a gzip/br body; passing the old encoding on would corrupt it.
  if (deps.upstreamBodyDecoded && bodyWasDecoded(method, response.status, headers.get('content-encoding'))) {
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  c.get('corsHeaders')?.forEach((value, name) => headers.set(name, value));
  const bodyless = method === 'HEAD' || NULL_BODY_STATUS.has(response.status);
  if (bodyless) void response.body?.cancel().catch(() => {});
  return new Response(bodyless ? null : response.body, { status: response.status, statusText: response.statusText, headers });
}
