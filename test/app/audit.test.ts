/**
 * Audit events (contract §8, docs/audit-event.schema.json), one case per event, against the real
 * provider. Runs twice: in Node against the Node app, and in the workerd project (SHARED_SUITES in
 * vitest.config.ts) against the Worker inside workerd. The Lambda@Edge run is
 * test/runtime/lambda-edge/audit.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditSessionHash } from '../../src/core/audit.js';
import { parseCookieHeader, readCookieValue } from '../../src/core/session/cookie-table.js';
import { auditLines } from '../helpers/audit-lines.js';
import { SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const secret = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))).replace(/[+/=]/g, 'x');

/** The session id sealed in the client's access-token cookie (what the audit line must hash, never show). */
async function sessionIdOf(spa: SpaClient): Promise<string> {
  const opened = await stack.app.agent.sealer.unseal<{ sid: string }>('at', readCookieValue(parseCookieHeader(spa.cookieHeader('/oauth-agent/session')), stack.app.agent.names.at));
  if (!opened) throw new Error('no access-token cookie');
  return opened.data.sid;
}

/** The audit lines written for one request, by its X-Request-Id. */
function auditsOf(response: Response): ReturnType<typeof auditLines> {
  const requestId = response.headers.get('x-request-id');
  expect(requestId).toBeTruthy();
  return auditLines(stack.logs, { request_id: requestId! });
}

describe('audit events', () => {
  it('login, refresh and logout of one session carry one session hash, never the id; the login names the subject', async () => {
    const spa = new SpaClient(stack.app);
    const login = await spa.login();
    expect(login.status).toBe(200);
    const sid = await sessionIdOf(spa);
    const hash = await auditSessionHash(sid);
    expect(auditsOf(login.response)).toEqual([
      { type: 'audit', time: expect.any(String), level: 'info', msg: 'audit', event: 'login', outcome: 'success', request_id: expect.any(String), session: hash, sub: expect.any(String) },
    ]);
    const refresh = await spa.json('POST', '/oauth-agent/refresh');
    expect(refresh.status).toBe(200);
    expect(auditsOf(refresh.response)).toEqual([{ type: 'audit', time: expect.any(String), level: 'info', msg: 'audit', event: 'refresh', outcome: 'success', request_id: expect.any(String), session: hash }]);
    const logout = await spa.json('POST', '/oauth-agent/logout');
    expect(logout.status).toBe(200);
    expect(auditsOf(logout.response)).toEqual([{ type: 'audit', time: expect.any(String), level: 'info', msg: 'audit', event: 'logout', outcome: 'success', request_id: expect.any(String), session: hash }]);
    expect(stack.logs.some((line) => line.includes(sid))).toBe(false);
  });

  it('a failed login says why, with no session and no subject', async () => {
    const spa = new SpaClient(stack.app);
    const failed = await spa.json('POST', '/oauth-agent/login/end', { body: { state: 'no-such-login', code: 'made-up' } });
    expect(failed.status).toBe(400);
    expect(auditsOf(failed.response)).toEqual([{ type: 'audit', time: expect.any(String), level: 'info', msg: 'audit', event: 'login', outcome: 'failure', reason: 'state_unknown', request_id: expect.any(String) }]);
  });

  it('a page-load login/end and a session query write no audit line', async () => {
    const spa = new SpaClient(stack.app);
    await spa.login();
    expect(auditsOf((await spa.json('POST', '/oauth-agent/login/end')).response)).toEqual([]);
    expect(auditsOf((await spa.json('GET', '/oauth-agent/session')).response)).toEqual([]);
  });

  it('a refresh without a session fails with its reason', async () => {
    const failed = await new SpaClient(stack.app).json('POST', '/oauth-agent/refresh');
    expect(failed.status).toBe(401);
    expect(auditsOf(failed.response)).toEqual([{ type: 'audit', time: expect.any(String), level: 'info', msg: 'audit', event: 'refresh', outcome: 'failure', reason: 'no_refresh_token', request_id: expect.any(String) }]);
  });

  it('cookies that do not make one session are a session_rejected', async () => {
    const spa = new SpaClient(stack.app);
    await spa.login();
    spa.cookies.delete(stack.app.agent.names.at);
    const read = await spa.json('GET', '/oauth-agent/session');
    expect(read.body).toEqual({ is_logged_in: false });
    expect(auditsOf(read.response)).toEqual([
      { type: 'audit', time: expect.any(String), level: 'info', msg: 'audit', event: 'session_rejected', outcome: 'failure', reason: 'session_cookies_orphaned', request_id: expect.any(String) },
    ]);
  });

  it('a cookie opened with a retired key is a retired_key_used naming the key id, once per key; the current key writes none', async () => {
    const old = new SpaClient(stack.app);
    await old.login();
    const rotated = stack.makeApp({ TH_COOKIE_KEYS: `k2:${secret()},${stack.cookieKeys}` });
    const moved = new SpaClient(rotated);
    for (const [name, cookie] of old.cookies) moved.cookies.set(name, cookie);
    const read = await moved.json('GET', '/oauth-agent/session');
    expect(read.body['is_logged_in']).toBe(true);
    expect(auditsOf(read.response)).toEqual([{ type: 'audit', time: expect.any(String), level: 'info', msg: 'audit', event: 'retired_key_used', outcome: 'success', request_id: expect.any(String), key_id: 'k1' }]);
    // On the app whose first key is k1 the same cookies are current.
    const current = new SpaClient(stack.app);
    for (const [name, cookie] of old.cookies) current.cookies.set(name, cookie);
    expect(auditsOf((await current.json('GET', '/oauth-agent/session')).response)).toEqual([]);
  });

  it('a value naming a retired key that does not open is no retired_key_used', async () => {
    const rotated = stack.makeApp({ TH_COOKIE_KEYS: `k2:${secret()},${stack.cookieKeys}` });
    const forged = new SpaClient(rotated);
    // The sealed shape, with the retired key's id, that no key opens.
    const fake = `Fe26.2*k1**${'A'.repeat(22)}*${'B'.repeat(43)}***${'C'.repeat(42)}A`;
    forged.cookies.set(stack.app.agent.names.at, { value: fake, path: '/' });
    const read = await forged.json('GET', '/oauth-agent/session');
    expect(read.body).toEqual({ is_logged_in: false });
    expect(auditsOf(read.response)).toEqual([]);
  });

  it('audit lines are written whatever TH_LOG_LEVEL says', async () => {
    const quiet = stack.makeApp({ TH_LOG_LEVEL: 'error' });
    const failed = await new SpaClient(quiet).json('POST', '/oauth-agent/refresh');
    expect(failed.status).toBe(401);
    expect(auditsOf(failed.response).map((l) => l['event'])).toEqual(['refresh']);
  });
});
