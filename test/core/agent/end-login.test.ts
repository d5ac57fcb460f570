/**
 * endLogin against the real provider: the callback's checks in the contract's order (§1.2), the
 * code exchange, and a new session with a new id sealed into every cookie (§3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentBrowser, makeAgent, startTestStack, thrown, type TestStack } from './agent-harness.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const tokenCalls = (calls: string[]) => calls.filter((u) => u.endsWith('/token')).length;
const sidOf = async (agent: ReturnType<typeof makeAgent>['agent'], purpose: 'at' | 'rt' | 'id', value: string | undefined) =>
  (await agent.sealer.unseal<{ sid: string }>(purpose, value))?.data.sid;

describe('endLogin', () => {
  it('exchanges the code and stores one session: one id in the three cookies, the transaction cleared', async () => {
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    const params = await browser.authorize(agent);
    const txName = [...browser.cookies.keys()].find((n) => n.startsWith('__Host-th-login-'))!;
    const result = await browser.run('/oauth-agent/login/end', (c) => agent.endLogin(params, c));
    expect(result.body).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo', name: 'Demo User' } });
    expect(result.event).toEqual({ name: 'login_success', refresh_token: true });
    expect(result.cookies.map((c) => [c.name, c.maxAge])).toEqual([
      [txName, 0],
      ['__Host-th-at', 28800],
      ['__Secure-th-rt', 28800],
      ['__Secure-th-id', 28800],
    ]);
    const sid = await sidOf(agent, 'at', browser.cookies.get('__Host-th-at')?.value);
    expect(sid).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await sidOf(agent, 'rt', browser.cookies.get('__Secure-th-rt')?.value)).toBe(sid);
    expect(await sidOf(agent, 'id', browser.cookies.get('__Secure-th-id')?.value)).toBe(sid);
  });

  it('without a callback it answers like the session reader (a page load)', async () => {
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    const cookies = browser.for('/oauth-agent/login/end');
    for (const params of [{}, { state: 'x' }, { code: 'x' }] as Record<string, string>[]) expect(await agent.endLogin(params, cookies)).toEqual(await agent.getSession(cookies));
    expect((await agent.endLogin({}, cookies)).body['is_logged_in']).toBe(true);
  });

  it('a new login replaces the earlier session: new cookies, a new id in all three', async () => {
    // (A login that brings no refresh token clears the earlier one: test/core/session/session-cookies.test.ts.)
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    const before = new Map([...browser.cookies].map(([n, c]) => [n, c.value]));
    const sidBefore = await sidOf(agent, 'at', before.get('__Host-th-at'));
    await browser.login(agent);
    const sid = await sidOf(agent, 'at', browser.cookies.get('__Host-th-at')?.value);
    expect(sid).not.toBe(sidBefore);
    for (const [name, purpose] of [['__Host-th-at', 'at'], ['__Secure-th-rt', 'rt'], ['__Secure-th-id', 'id']] as const) {
      expect(browser.cookies.get(name)?.value).not.toBe(before.get(name));
      expect(await sidOf(agent, purpose, browser.cookies.get(name)?.value)).toBe(sid);
    }
  });

  it('refuses an unknown or expired state without calling the token endpoint', async () => {
    const { agent, clock, calls } = makeAgent(stack);
    const browser = new AgentBrowser();
    const params = await browser.authorize(agent);
    const cookies = browser.for('/oauth-agent/login/end');
    expect(await thrown(agent.endLogin({ ...params, state: 'y'.repeat(43) }, cookies))).toMatchObject({ code: 'invalid_request', reason: 'state_unknown' });
    clock.now += 601_000;
    expect(await thrown(agent.endLogin(params, cookies))).toMatchObject({ code: 'invalid_request', reason: 'state_unknown' });
    expect(tokenCalls(calls)).toBe(0);
  });

  it('checks iss before anything else, and clears the transaction whatever the outcome', async () => {
    const { agent, calls } = makeAgent(stack);
    for (const [iss, reason] of [['https://evil.example.test', 'iss_mismatch'], [undefined, 'iss_missing']] as const) {
      const browser = new AgentBrowser();
      const params = await browser.authorize(agent);
      const txName = [...browser.cookies.keys()].find((n) => n.startsWith('__Host-th-login-'))!;
      const { iss: _, ...rest } = params;
      const refused = await thrown(agent.endLogin(iss === undefined ? rest : { ...rest, iss }, browser.for('/oauth-agent/login/end')));
      expect(refused).toMatchObject({ code: 'invalid_request', reason });
      expect(refused.setCookies).toEqual([{ name: txName, value: '', path: '/', maxAge: 0 }]);
    }
    expect(tokenCalls(calls)).toBe(0);
  });

  it('relays the provider’s error under its own code, login_required as 401, and never an odd code', async () => {
    const { agent } = makeAgent(stack);
    for (const [error, wireCode, status] of [
      ['access_denied', 'access_denied', 400],
      ['login_required', 'login_required', 401],
      ['bad"code', 'authorization_error', 400],
    ] as const) {
      const browser = new AgentBrowser();
      const start = await browser.run('/oauth-agent/login/start', (c) => agent.startLogin({}, c));
      const state = new URL(start.body.authorization_url).searchParams.get('state')!;
      const refused = await thrown(agent.endLogin({ error, state, iss: stack.provider.issuer }, browser.for('/oauth-agent/login/end')));
      expect(refused).toMatchObject({ wireCode, status });
      expect(refused.setCookies).toHaveLength(1);
    }
  });

  it('hides the claims listed in TH_HIDDEN_CLAIMS, yet keeps the subject for refresh', async () => {
    const { agent } = makeAgent(stack, { TH_HIDDEN_CLAIMS: 'sub,email' });
    const browser = new AgentBrowser();
    const result = await browser.login(agent);
    const claims = (result.body as { id_token_claims: Record<string, unknown> }).id_token_claims;
    expect(claims['sub']).toBeUndefined();
    expect(claims['email']).toBeUndefined();
    expect(claims['name']).toBe('Demo User');
    const identity = await agent.sealer.unseal<{ sub: string }>('id', browser.cookies.get('__Secure-th-id')?.value);
    expect(identity?.data.sub).toBe('demo');
  });
});
