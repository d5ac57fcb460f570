/**
 * Shared pieces of the attack suite: apps wired to the hostile provider, a login driver, the
 * contract's error-shape check, and the leak sweep. Every log line of every app made here is
 * captured, and every code, token, secret and cookie value the suite creates is registered, so the
 * last test of each file can search the logs (and every answer the browser read) for all of them.
 */
import { auditLines } from '../helpers/audit-lines.js';
import { expect } from 'vitest';
import type { HttpBindings } from '@hono/node-server';
import { createNodeTokenHandler, type NodeTokenHandler } from '../../src/adapters/node/server.js';
import type { TokenHandlerDeps } from '../../src/app/create-token-handler.js';
import { parseConfig, type RawConfig } from '../../src/config/parse.js';
import { PUBLIC_ORIGIN, SpaClient } from '../helpers/spa-client.js';
import { randomSecret } from '../helpers/config.js';
import type { HostileProvider } from './hostile-provider.js';

export const CLIENT_ID = 'attack-client';
export const REDIRECT_URI = `${PUBLIC_ORIGIN}/`;

export interface Recorder {
  readonly logs: string[];
  readonly secrets: Set<string>;
  readonly clients: SpaClient[];
  /** Cookie values the app set, to be searched for in the logs. */
  readonly cookieValues: Set<string>;
}

export function createRecorder(): Recorder {
  return { logs: [], secrets: new Set(), clients: [], cookieValues: new Set() };
}

/** Cookie keys for one test file, registered as secrets. */
export function cookieKeysFor(recorder: Recorder): string {
  const secret = randomSecret();
  recorder.secrets.add(secret);
  return `k1:${secret}`;
}

export function attackApp(
  provider: HostileProvider,
  recorder: Recorder,
  cookieKeys: string,
  overrides: RawConfig = {},
  deps: Partial<TokenHandlerDeps<HttpBindings>> = {},
): NodeTokenHandler {
  const config = parseConfig({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: provider.clientSecret,
    TH_COOKIE_KEYS: cookieKeys,
    TH_API_ROUTES: `/api=${provider.issuer}/api`,
    TH_LOG_LEVEL: 'debug',
    ...overrides,
  });
  return createNodeTokenHandler(config, { logSink: (line) => recorder.logs.push(line), ...deps });
}

/** A SPA client whose answers (and the cookie values it was given) the sweep will search. */
export function spaFor(app: NodeTokenHandler, recorder: Recorder): SpaClient {
  const spa = new SpaClient(app);
  recorder.clients.push(spa);
  return spa;
}

export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
  response: Response;
}

/** login/start → the provider's authorize endpoint (a 302 back with code, state, iss) → login/end. */
export async function hostileLogin(spa: SpaClient): Promise<JsonAnswer & { callback?: URLSearchParams }> {
  const start = await spa.json('POST', '/oauth-agent/login/start');
  if (start.status !== 200) return start;
  const authorize = await fetch(String(start.body['authorization_url']), { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (authorize.status !== 302 || !location) throw new Error(`the provider did not redirect back (${authorize.status})`);
  const callback = new URL(location).searchParams;
  const end = await spa.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(callback) });
  return { ...end, callback };
}

/** The contract's error answer: status, code, exact content type, no-store, and a bland detail. */
export function expectContractError(answer: JsonAnswer, status: number, code: string): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.body['error_code']).toBe(code);
  expect(typeof answer.body['detailed_error']).toBe('string');
  expect(Object.keys(answer.body).sort()).toEqual(['detailed_error', 'error_code']);
  expect(answer.response.headers.get('content-type')).toBe('application/json');
  expect(answer.response.headers.get('cache-control')).toBe('no-store');
}

const SESSION_COOKIE = /^(__Host-th-at|__Secure-th-rt|__Secure-th-id)(\.\d+)?=/;

/** Names of session cookies the answer sets with a value (clearing ones are fine). */
export function sessionCookiesSet(response: Response): string[] {
  return response.headers
    .getSetCookie()
    .filter((line) => SESSION_COOKIE.test(line) && !/^[^=]+=;/.test(line))
    .map((line) => line.slice(0, line.indexOf('=')));
}

/** The log lines (parsed) whose fields match. */
export function logLines(recorder: Recorder, match: Record<string, unknown>): Record<string, unknown>[] {
  return recorder.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => Object.entries(match).every(([k, v]) => line[k] === v));
}

/** The reason logged for the last rejected request. */
export function lastRejection(recorder: Recorder): Record<string, unknown> | undefined {
  return logLines(recorder, { msg: 'request_rejected' }).at(-1);
}

/**
 * The sweep: no registered secret, no 16-character piece of one, and no cookie value the app set
 * appears in any log line; no token or secret appears in any answer the browser could read
 * (bodies and headers other than the sealed Set-Cookie values).
 */
export function sweepForLeaks(recorder: Recorder, providers: HostileProvider[]): { secrets: number; logLines: number; answers: number } {
  const secrets = new Set([...recorder.secrets, ...providers.flatMap((p) => [...p.secrets])]);
  for (const spa of recorder.clients) {
    for (const r of spa.responses) {
      for (const [name, value] of r.headers) {
        if (name !== 'set-cookie') continue;
        for (const line of value.split(/,(?=\s*__)/)) {
          const cookieValue = line.split(';')[0]!.split('=').slice(1).join('=');
          if (cookieValue.length >= 16) recorder.cookieValues.add(cookieValue);
        }
      }
    }
  }
  const logs = recorder.logs.join('\n');
  const answers = recorder.clients
    .flatMap((spa) => spa.responses.map((r) => JSON.stringify([r.headers.filter(([k]) => k !== 'set-cookie'), r.body])))
    .join('\n');
  for (const secret of secrets) {
    expect(secret.length, 'registered secrets are long enough to search for').toBeGreaterThanOrEqual(16);
    for (let i = 0; i + 16 <= secret.length; i += 16) {
      const piece = secret.slice(i, i + 16);
      expect(logs.includes(piece), `a piece of a secret reached the log: ${piece}`).toBe(false);
      expect(answers.includes(piece), `a piece of a secret reached an answer: ${piece}`).toBe(false);
    }
  }
  for (const value of recorder.cookieValues) {
    for (let i = 0; i + 40 <= value.length; i += 40) {
      expect(logs.includes(value.slice(i, i + 40)), 'a cookie value reached the log').toBe(false);
    }
  }
  // Audit lines hold only the schema's fields, each of its shape: no room for a token or an id.
  auditLines(recorder.logs);
  return { secrets: secrets.size, logLines: recorder.logs.length, answers: recorder.clients.reduce((n, c) => n + c.responses.length, 0) };
}
