/**
 * The OAuth agent's endpoints (contract §1) as one table: path, methods, whether the CSRF checks
 * apply and whether a body is read, and the operation. 405 with `Allow`, the preflight's methods
 * and the CSRF rule all come from it; a server-to-server endpoint (back-channel logout) is a row
 * with `csrf: false`.
 */
import type { Hono } from 'hono';
import type { Agent, AgentResult, Cookies, Params } from '../core/agent/agent.js';
import type { AuditEventName } from '../core/audit.js';
import { TokenHandlerError, isTokenHandlerError, type Reason } from '../core/errors.js';
import { readLimited } from '../core/read-limited.js';
import { parseCookieHeader } from '../core/session/cookie-table.js';
import type { Config } from '../core/types.js';
import type { AppEnv } from './context.js';
import { assertCsrfSafe, preflightHeaders } from './guards.js';
import { retiredKeyAudits } from './retired-key-audit.js';
import { jsonResponse } from './responses.js';

const MAX_BODY_BYTES = 64 * 1024;

export interface AgentRoute {
  /** Below `TH_AGENT_PATH`. */
  readonly path: string;
  readonly methods: readonly string[];
  /** Whether the CSRF, Origin and Fetch Metadata checks of contract §4 run first. */
  readonly csrf: boolean;
  /** Whether a form or JSON body is read (and refused when malformed). */
  readonly body: boolean;
  /** The audit event written when the operation fails (its successes carry their own `audit`). */
  readonly auditFailure?: AuditEventName;
  run(agent: Agent, params: Params, cookies: Cookies): Promise<AgentResult<unknown>>;
}

export const AGENT_ROUTES: readonly AgentRoute[] = [
  { path: '/login/start', methods: ['POST'], csrf: true, body: true, run: (agent, params, cookies) => agent.startLogin(params, cookies) },
  { path: '/login/end', methods: ['POST'], csrf: true, body: true, auditFailure: 'login', run: (agent, params, cookies) => agent.endLogin(params, cookies) },
  { path: '/refresh', methods: ['POST'], csrf: true, body: true, auditFailure: 'refresh', run: (agent, params, cookies) => agent.refresh(params, cookies) },
  // Logout takes no parameters; extra ones are ignored rather than refused so a stray field never
  // keeps someone logged in (a malformed body is still refused).
  { path: '/logout', methods: ['POST'], csrf: true, body: true, run: (agent, _params, cookies) => agent.logout(cookies) },
  { path: '/session', methods: ['GET', 'HEAD'], csrf: false, body: false, run: (agent, _params, cookies) => agent.getSession(cookies) },
  // A read like /session (no CSRF checks), but only for a valid session (core/agent/userinfo.ts).
  { path: '/userinfo', methods: ['GET'], csrf: false, body: false, run: (agent, _params, cookies) => agent.userinfo(cookies) },
  // Server to server, from the IdP (contract §6.2): no browser, so no CSRF, Origin or Fetch Metadata checks.
  { path: '/backchannel-logout', methods: ['POST'], csrf: false, body: true, run: (agent, params) => agent.backchannelLogout(params) },
];

export function mountAgentRoutes<B extends object>(app: Hono<AppEnv<B>>, config: Config, agent: Agent, routes: readonly AgentRoute[] = AGENT_ROUTES): void {
  const base = config.agentPath;
  const byPath = new Map(routes.map((route) => [route.path, route]));

  for (const route of routes) {
    app.on([...route.methods], base + route.path, async (c) => {
      // The CSRF checks come before the body is even read (contract §1.1).
      if (route.csrf) assertCsrfSafe(c.req.raw.headers, config);
      const params = route.body ? await readParams(c.req.raw) : {};
      const cookies = parseCookieHeader(c.req.header('cookie'));
      const log = c.get('log');
      const requestId = c.get('requestId');
      for (const audit of await retiredKeyAudits(agent, config, cookies)) await log.audit(requestId, audit);
      let result: AgentResult<unknown>;
      try {
        result = await route.run(agent, params, cookies);
      } catch (e) {
        if (route.auditFailure) await log.audit(requestId, { event: route.auditFailure, outcome: 'failure', reason: isTokenHandlerError(e) ? e.reason : 'unexpected_error' });
        throw e;
      }
      if (result.event) {
        const { name, ...fields } = result.event;
        log.event(requestId, name, fields);
      }
      if (result.audit) await log.audit(requestId, result.audit);
      return jsonResponse(result.status ?? 200, result.body, result.cookies, c.get('corsHeaders'));
    });
  }

  app.options(base + '/*', (c) => {
    const route = byPath.get(c.req.path.slice(base.length));
    if (!route) throw new TokenHandlerError('not_found', { reason: 'agent_path_unknown' });
    return new Response(null, { status: 204, headers: preflightHeaders(c.req.header('origin') ?? null, route.methods, config) });
  });
  app.all(base + '/*', (c) => {
    const route = byPath.get(c.req.path.slice(base.length));
    if (route) throw new TokenHandlerError('method_not_allowed', { detail: 'The method is not allowed on this endpoint', allow: route.methods.join(', '), reason: 'method_not_allowed' });
    throw new TokenHandlerError('not_found', { reason: 'agent_path_unknown' });
  });
}

/** Form or JSON fields as a flat string record; anything else is a 400. */
async function readParams(request: Request): Promise<Params> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw new TokenHandlerError('request_too_large', { reason: 'body_too_large' });
  const text = await readText(request, MAX_BODY_BYTES);
  if (text.trim() === '') return {};
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const bad = (reason: Reason) => new TokenHandlerError('invalid_request', { detail: 'The request body is malformed', reason });
  const params: Record<string, string> = Object.create(null);
  if (type === 'application/x-www-form-urlencoded') {
    for (const [key, value] of new URLSearchParams(text)) {
      if (key in params) throw bad('duplicate_parameter');
      params[key] = value;
    }
    return params;
  }
  if (type === 'application/json') {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw bad('json_malformed');
    }
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw bad('json_not_object');
    for (const [key, value] of Object.entries(json)) {
      if (typeof value !== 'string') throw bad('json_value_not_string');
      params[key] = value;
    }
    return params;
  }
  throw new TokenHandlerError('invalid_request', { detail: 'The request body must be form-encoded or JSON', reason: 'content_type_unsupported' });
}

async function readText(request: Request, limit: number): Promise<string> {
  const all = await readLimited(request.body, limit, () => new TokenHandlerError('request_too_large', { reason: 'body_too_large' }));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch {
    throw new TokenHandlerError('invalid_request', { detail: 'The request body is malformed', reason: 'body_not_utf8' });
  }
}
