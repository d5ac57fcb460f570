/**
 * The one API proxy (contract §2, §4), free of Hono and of any platform: header size → CORS →
 * policy (route, path, method, CSRF) → token → rewrite → transport → response filter → log →
 * error. Each platform's shell (the Hono route, the Node fast path, Lambda@Edge's hand-off to
 * CloudFront) only translates its I/O into a {@link ProxyRequest} and writes the result back, so a
 * rule cannot hold on one platform and not another.
 *
 * The token step decides the credential; a sender-constrained one (DPoP) also adds headers made
 * for the exact upstream call and may ask, once, for the call again (a `use_dpop_nonce` answer),
 * which only a call without a body can be: a body streams through once and is never buffered.
 */
import type { AccessTokenRead, Agent } from '../core/agent/agent.js';
import { TokenHandlerError } from '../core/errors.js';
import type { HeaderView, ResponseHeaderView, UpstreamAnswer, UpstreamCall, UpstreamTransport } from '../core/ports.js';
import type { HeaderBag } from '../core/proxy/header-bag.js';
import { filterUpstreamResponseHeaders, rewriteUpstreamRequest } from '../core/proxy/headers.js';
import { assertSafePath } from '../core/proxy/path-safety.js';
import { matchRoute, parseUpstreamBase, upstreamPath, type RouteMatch, type UpstreamBase } from '../core/proxy/routes.js';
import { parseCookieHeader } from '../core/session/cookie-table.js';
import type { ApiRoute, Config } from '../core/types.js';
import { STATE_CHANGING, assertCsrfSafe, assertHeaderSize, corsHeaders, preflightHeaders } from './guards.js';
import type { RequestLog } from './request-log.js';

const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export interface ProxyRequest<Body> {
  readonly requestId: string;
  /** When the request arrived (the clock's milliseconds), for the log line's duration. */
  readonly started: number;
  readonly method: string;
  /**
   * The path (still percent-encoded) and query exactly as the client sent them, where the platform
   * keeps the request target; otherwise from the parsed URL, whose dot segments are resolved.
   */
  readonly target: string;
  readonly headers: HeaderView;
  readonly clientIp?: string | undefined;
  /** The client's body as the platform streams it; ignored for GET and HEAD. */
  readonly body: Body | null;
  /** Registers how to close the upstream call when the client goes away (see UpstreamCall). */
  readonly onClientGone?: ((close: () => void) => void) | undefined;
}

/** The rewritten call, ready for a transport or for CloudFront, and what its answer needs. */
export interface PreparedCall<Body> {
  readonly kind: 'forward';
  readonly call: UpstreamCall<Body>;
  readonly route: ApiRoute;
  readonly cors: Headers | undefined;
  /** What the token step gave the call, for a second send (see {@link UpstreamCredential}). */
  readonly credential?: UpstreamCredential;
}

export type Prepared<Body> =
  /** Not an API route: the agent routes or `not_found` answer it. */
  | { readonly kind: 'pass' }
  /** The token handler's own answer (a preflight). */
  | { readonly kind: 'answer'; readonly response: Response }
  | PreparedCall<Body>;

export type ProxyResult<Body> =
  | { readonly kind: 'pass' }
  /** Written by the token handler itself: a preflight or a JSON error (already logged). */
  | { readonly kind: 'answer'; readonly response: Response }
  /** The upstream's answer, filtered (already logged). */
  | { readonly kind: 'upstream'; readonly status: number; readonly statusText: string; readonly headers: HeaderBag; readonly body: Body | null };

/** Where one send of a call goes. */
export interface CallTarget {
  readonly method: string;
  readonly url: string;
}

/**
 * A credential for a call: its `Authorization` value, and for a sender-constrained token (DPoP)
 * the headers each send needs and what to learn from each answer.
 */
export interface UpstreamCredential {
  readonly authorization: string;
  /** Headers for one send of the call (a DPoP proof for its method and URL); asked again before a second send. */
  headersFor?(call: CallTarget): Promise<Readonly<Record<string, string>>>;
  /** Sees every answer (a server's nonce); true asks for one more send, which only a call without a body gets. */
  answered?(call: CallTarget, answer: { readonly status: number; readonly headers: ResponseHeaderView }): boolean;
}

/**
 * Turns the session into the credential for a route (an `Authorization` value, or an
 * {@link UpstreamCredential}), or undefined on a public route. Asynchronous and free to choose the
 * scheme, so introspection and DPoP plug in here.
 */
export type TokenStep = (route: ApiRoute, headers: HeaderView) => Promise<string | UpstreamCredential | undefined>;

/** What {@link ProxyPipeline.claims} found for a target, handed back to `prepare` or `handle` so the route is matched once. */
export interface ProxyClaim {
  /** The target's path (still percent-encoded) and its query (with `?`, or ''). */
  readonly path: string;
  readonly search: string;
  /** The route, or a path that reaches one only once resolved (refused by `prepare`). */
  readonly match: RouteMatch | 'traversal';
}

export interface ProxyPipeline {
  /** What makes `target` the proxy's (an API route, or a path that resolves into one), or undefined. Cheap and synchronous. */
  claims(target: string): ProxyClaim | undefined;
  /**
   * Every rule up to the upstream call. Throws TokenHandlerError for a refusal. `claim` is what
   * `claims(request.target)` gave; without it the route is matched here.
   */
  prepare<Body>(request: ProxyRequest<Body>, claim?: ProxyClaim): Promise<Prepared<Body>>;
  /** The whole proxy for one request; never throws (refusals become JSON answers). `claim` as for `prepare`. */
  handle<In, Out>(request: ProxyRequest<In>, transport: UpstreamTransport<In, Out>, claim?: ProxyClaim): Promise<ProxyResult<Out>>;
  /** A refusal's JSON answer, logged, with the CORS headers the request earned. */
  refuse(request: ProxyRequest<unknown>, error: unknown): Response;
  /** Logs the token handler's own answer (a preflight) and marks it with the request id. */
  answered(request: ProxyRequest<unknown>, response: Response): Response;
  /** Logs a call the platform forwards itself (Lambda@Edge), whose status only the origin knows. */
  handedOff(request: ProxyRequest<unknown>, prepared: PreparedCall<unknown>): void;
}

/** The session's access token from its sealed cookie; refuses a missing or expired one. */
export async function usableAccessToken(agent: Agent, headers: HeaderView): Promise<AccessTokenRead> {
  const at = await agent.readAccessToken(parseCookieHeader(headers.get('cookie')));
  if (!at) throw new TokenHandlerError('unauthorized_request', { detail: 'No valid session', reason: 'no_access_token' });
  if (at.expired) throw new TokenHandlerError('token_expired', { reason: 'access_token_expired' });
  return at;
}

/** Sets the headers the credential made for this send of the call (after the rewrite, so they replace any a client sent). */
function setCallHeaders(headers: HeaderBag, made: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(made)) headers.set(name, value);
}

function splitTarget(target: string): { path: string; search: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, search: '' } : { path: target.slice(0, q), search: target.slice(q) };
}

/** The path of a target, for the log line. */
function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

export function createProxyPipeline(config: Config, agent: Agent, log: RequestLog, tokenStep: TokenStep): ProxyPipeline {
  const routes = config.apiRoutes;
  // Each route's upstream parsed once, here: every call's origin and path come from it.
  const bases = new Map<ApiRoute, UpstreamBase>(routes.map((route) => [route, parseUpstreamBase(route.upstream)]));

  /** The route for a raw path; a path that reaches a route only once resolved (`/x/../api`) is a traversal. */
  function route(path: string): RouteMatch | 'traversal' | undefined {
    const match = matchRoute(routes, path);
    // Only dots, escapes and backslashes can make the URL parser move a path into another one.
    if (match || routes.length === 0 || !/[.%\\]/.test(path)) return match;
    const resolved = new URL(`http://localhost${path}`).pathname;
    return path !== resolved && matchRoute(routes, resolved) ? 'traversal' : undefined;
  }

  function claims(target: string): ProxyClaim | undefined {
    const { path, search } = splitTarget(target);
    const match = route(path);
    return match === undefined ? undefined : { path, search, match };
  }

  async function prepare<Body>(request: ProxyRequest<Body>, claim = claims(request.target)): Promise<Prepared<Body>> {
    if (claim === undefined) return { kind: 'pass' };
    const { path, search, match } = claim;
    assertHeaderSize(request.headers);
    assertSafePath(path);
    if (match === 'traversal') throw new TokenHandlerError('invalid_request', { detail: 'The request path is not allowed', reason: 'path_normalises_into_route' });

    const { method, headers } = request;
    const methods = match.route.methods ?? DEFAULT_METHODS;
    if (method === 'OPTIONS') return { kind: 'answer', response: new Response(null, { status: 204, headers: preflightHeaders(headers.get('origin'), methods, config) }) };
    if (!methods.includes(method)) {
      throw new TokenHandlerError('method_not_allowed', { detail: 'The method is not allowed on this route', allow: methods.join(', '), reason: 'proxy_method_not_allowed' });
    }
    if (STATE_CHANGING.has(method)) assertCsrfSafe(headers, config);

    const token = await tokenStep(match.route, headers);
    const credential = typeof token === 'string' ? { authorization: token } : token;
    const upstream = rewriteUpstreamRequest({ method, search, headers, clientIp: request.clientIp }, match, credential?.authorization, config, agent.names);
    // Only a credential with headers of its own (DPoP) makes the call wait once more.
    if (credential?.headersFor) setCallHeaders(upstream.headers, await credential.headersFor({ method, url: upstream.url }));
    const bodyless = method === 'GET' || method === 'HEAD';
    const base = bases.get(match.route)!;
    return {
      kind: 'forward',
      route: match.route,
      cors: corsHeaders(headers.get('origin'), config),
      credential,
      call: {
        url: upstream.url,
        origin: base.origin,
        path: upstreamPath(base, match.rest, search),
        method,
        headers: upstream.headers,
        body: bodyless ? null : request.body,
        timeout: config.upstreamTimeout,
        onClientGone: request.onClientGone,
      },
    };
  }

  function refuse(request: ProxyRequest<unknown>, error: unknown): Response {
    const response = log.rejected(error, request.requestId, corsHeaders(request.headers.get('origin'), config));
    response.headers.set('x-request-id', request.requestId);
    log.logged(request.requestId, request.method, pathOf(request.target), response.status, request.started);
    return response;
  }

  /** The upstream's answer as the browser gets it (contract §2 step 5, §4). */
  function answer<Out>(request: ProxyRequest<unknown>, prepared: PreparedCall<unknown>, upstream: UpstreamAnswer<Out>): ProxyResult<Out> {
    const headers = filterUpstreamResponseHeaders(upstream.headers, agent.names, prepared.route);
    prepared.cors?.forEach((value, name) => headers.set(name, value));
    headers.set('x-request-id', request.requestId);
    log.logged(request.requestId, request.method, pathOf(request.target), upstream.status, request.started);
    return { kind: 'upstream', status: upstream.status, statusText: upstream.statusText, headers, body: upstream.body };
  }

  function answered(request: ProxyRequest<unknown>, response: Response): Response {
    response.headers.set('x-request-id', request.requestId);
    log.logged(request.requestId, request.method, pathOf(request.target), response.status, request.started);
    return response;
  }

  return {
    claims,
    prepare,
    refuse,
    answered,
    handedOff(request, prepared) {
      const { call } = prepared;
      log.forwarded(request.requestId, request.method, pathOf(request.target), call.origin?.host ?? new URL(call.url).host, request.started);
    },
    async handle<In, Out>(request: ProxyRequest<In>, transport: UpstreamTransport<In, Out>, claim?: ProxyClaim): Promise<ProxyResult<Out>> {
      try {
        const prepared = await prepare(request, claim);
        if (prepared.kind === 'pass') return prepared;
        if (prepared.kind === 'answer') return { kind: 'answer', response: answered(request, prepared.response) };
        const first = await transport.send(prepared.call);
        // Only a credential that reads the answer (DPoP) can ask for a second send.
        return answer(request, prepared, prepared.credential?.answered ? await sendOnceMore(prepared, first, transport) : first);
      } catch (error) {
        return { kind: 'answer', response: refuse(request, error) };
      }
    },
  };
}

/**
 * The call sent a second time when the credential asks for it (RFC 9449 §9: a nonce challenge),
 * with fresh headers; at most once, and only for a call without a body (a streamed body is gone)
 * on a transport that can let go of the first answer. Otherwise the first answer stands.
 */
async function sendOnceMore<In, Out>(prepared: PreparedCall<In>, first: UpstreamAnswer<Out>, transport: UpstreamTransport<In, Out>): Promise<UpstreamAnswer<Out>> {
  const { credential, call } = prepared;
  const target = { method: call.method, url: call.url };
  if (!credential?.answered?.(target, first) || call.body !== null || !transport.discard) return first;
  transport.discard(first);
  const headers = call.headers.clone();
  if (credential.headersFor) setCallHeaders(headers, await credential.headersFor(target));
  const second = await transport.send({ ...call, headers });
  credential.answered(target, second);
  return second;
}

/** The 502 a transport rejects with when the upstream cannot be reached or does not answer in time. */
export function upstreamUnavailable(reason: 'upstream_timeout' | 'upstream_unreachable' | 'upstream_bad_status', cause?: unknown): TokenHandlerError {
  const detail = reason === 'upstream_bad_status' ? 'The API answered with an invalid response' : 'The API could not be reached';
  return new TokenHandlerError('upstream_unavailable', { detail, cause, reason });
}
