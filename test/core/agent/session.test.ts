/**
 * The session reader (getSession, page-load endLogin) and the proxy's readAccessToken, against the
 * real provider, with a clock the test moves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentBrowser, makeAgent, startTestStack, type TestStack } from './agent-harness.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('getSession', () => {
  it('is logged in with the claims and the access token’s lifetime counted down; sets nothing', async () => {
    const { agent, clock } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    clock.now += 100_000;
    const result = await agent.getSession(browser.for('/oauth-agent/session'));
    expect(result).toEqual({ body: { is_logged_in: true, id_token_claims: expect.objectContaining({ sub: 'demo' }), access_token_expires_in: 200 }, cookies: [] });
    clock.now += 300_000;
    expect((await agent.getSession(browser.for('/oauth-agent/session'))).body).toMatchObject({ is_logged_in: true, access_token_expires_in: 0 });
  });

  it('without cookies, or with none that open, is logged out and sets nothing', async () => {
    const { agent } = makeAgent(stack);
    expect(await agent.getSession(new Map())).toEqual({ body: { is_logged_in: false }, cookies: [] });
    expect(await agent.getSession(new Map([['__Host-th-at', ['x']], ['__Secure-th-id', ['y']]]))).toEqual({ body: { is_logged_in: false }, cookies: [] });
  });

  it('an access-token cookie without its ID cookie is logged out, and is left for the proxy', async () => {
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    const atOnly = new Map([['__Host-th-at', [browser.cookies.get('__Host-th-at')!.value]]]);
    expect(await agent.getSession(atOnly)).toEqual({ body: { is_logged_in: false }, cookies: [] });
    expect(await agent.readAccessToken(atOnly)).toMatchObject({ expired: false });
  });

  it('cookies that are not one session are logged out, cleared, and logged as a security event', async () => {
    const { agent } = makeAgent(stack);
    const mine = new AgentBrowser();
    await mine.login(agent);
    const other = new AgentBrowser();
    await other.login(agent);
    const planted = new Map([...mine.for('/oauth-agent/session')].map(([n, v]) => [n, n === '__Secure-th-id' ? [other.cookies.get(n)!.value] : v]));
    const result = await agent.getSession(planted);
    expect(result.body).toEqual({ is_logged_in: false });
    expect(result.event).toEqual({ name: 'session_rejected', reason: 'session_ids_differ' });
    expect(result.cookies.map((c) => [c.name, c.maxAge])).toEqual([
      ['__Host-th-at', 0],
      ['__Secure-th-rt', 0],
      ['__Secure-th-id', 0],
    ]);
    expect(await agent.endLogin({}, planted)).toEqual(result);
  });
});

describe('readAccessToken', () => {
  it('hands the proxy the token, and says when it has expired', async () => {
    const { agent, clock } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    const cookies = browser.for('/api/whoami');
    expect([...cookies.keys()]).toEqual(['__Host-th-at']);
    const read = await agent.readAccessToken(cookies);
    expect(read?.token).toMatch(/^ey/);
    expect(read?.expired).toBe(false);
    clock.now += 300_000;
    expect(await agent.readAccessToken(cookies)).toEqual({ token: read?.token, expired: true });
  });

  it('refuses an access-token cookie sealed without a session id', async () => {
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    const opened = await agent.sealer.unseal<Record<string, unknown>>('at', browser.cookies.get('__Host-th-at')?.value);
    const { sid: _, ...old } = opened!.data;
    const oldCookie = new Map([['__Host-th-at', [await agent.sealer.seal('at', old, opened!.expiresAt)]]]);
    expect(await agent.readAccessToken(oldCookie)).toBeUndefined();
    expect(await agent.readAccessToken(new Map())).toBeUndefined();
  });
});
