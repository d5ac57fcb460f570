/**
 * The OAuth agent's endpoints (contract §1): HTTP in, `createAgent` operations, JSON out.
 */
import type { Hono } from 'hono';
import type { Config } from '../core/types.js';
import type { Agent, AgentResult, Params } from '../core/agent/agent.js';
import { parseCookieHeader } from '../core/session/cookie-table.js';
import { TokenHandlerError } from '../core/errors.js';
import { readLimited } from '../core/read-limited.js';
import { assertCsrfSafe, preflightHeaders } from './guards.js';
import { jsonResponse } from './responses.js';
import type { AppEnv } from './context.js';

const MAX_BODY_BYTES = 64 * 1024;

type Operation = (params: Params, cookies: ReturnType<typeof parseCookieHeader>) => Promise<AgentResult<unknown>>;

export function mountAgentRoutes(app: Hono<AppEnv>, config: Config, agent: Agent): void {
  const base = config.agentPath;
  const post = (path: string, operation: Operation) => {
    app.post(base + path, async (c) => {
      // The CSRF checks come before the body is even read (contract §1.1).
      assertCsrfSafe(c.req.raw.headers, config);
      const params = await readParams(c.req.raw);
      const result = await operation(params, parseCookieHeader(c.req.header('cookie')));
      if (result.event) {
        const { name, ...fields } = result.event;
        c.get('logEvent')(name, fields);
      }
      return jsonResponse(200, result.body, result.cookies, c.get('corsHeaders'));
    });
  };

  post('/login/start', (params, cookies) => agent.startLogin(params, cookies));
  post('/login/end', (params, cookies) => agent.endLogin(params, cookies));
  post('/refresh', (params, cookies) => agent.refresh(params, cookies));
  post('/logout', (params, cookies) => {
    // Logout takes no parameters; extra ones are ignored rather than refused so a stray field never
    // keeps someone logged in.
    void params;
    return agent.logout(cookies);
  });

  app.on(['GET', 'HEAD'], base + '/session', async (c) => {
    const result = await agent.getSession(parseCookieHeader(c.req.header('cookie')));
    if (result.event) {
      const { name, ...fields } = result.event;
      c.get('logEvent')(name, fields);
    }
    return jsonResponse(200, result.body, result.cookies, c.get('corsHeaders'));
  });

  const allowed: Record<string, string> = {
    '/login/start': 'POST',
    '/login/end': 'POST',
    '/refresh': 'POST',
    '/logout': 'POST',
    '/session': 'GET, HEAD',
  };
  app.options(base + '/*', (c) => new Response(null, { status: 204, headers: preflightHeaders(c.req.header('origin') ?? null, ['GET', 'POST'], config) }));
  app.all(base + '/*', (c) => {
    const path = c.req.path.slice(base.length);
    const allow = allowed[path];
    if (allow) throw new TokenHandlerError('method_not_allowed', 'The method is not allowed on this endpoint', { allow, reason: 'method_not_allowed' });
    throw new TokenHandlerError('not_found', 'There is no such endpoint', { reason: 'agent_path_unknown' });
  });
}

/** Form or JSON fields as a flat string record; anything else is a 400. */
async function readParams(request: Request): Promise<Params> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw new TokenHandlerError('request_too_large', 'The request body is too large', { reason: 'body_too_large' });
  const text = await readText(request, MAX_BODY_BYTES);
  if (text.trim() === '') return {};
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const bad = (reason: string) => new TokenHandlerError('invalid_request', 'The request body is malformed', { reason });
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
  throw new TokenHandlerError('invalid_request', 'The request body must be form-encoded or JSON', { reason: 'content_type_unsupported' });
}

async function readText(request: Request, limit: number): Promise<string> {
  const all = await readLimited(request.body, limit, () => new TokenHandlerError('request_too_large', 'The request body is too large', { reason: 'body_too_large' }));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch {
    throw new TokenHandlerError('invalid_request', 'The request body is malformed', { reason: 'body_not_utf8' });
  }
}
