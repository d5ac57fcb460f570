/**
 * logout against the real provider (contract §1.2): the end-session URL, this session's refresh
 * token revoked (never one planted beside it), every cookie cleared.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN } from '../../helpers/stack.js';
import { AgentBrowser, makeAgent, startTestStack, thrown, type TestStack } from './agent-harness.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('logout', () => {
  it('revokes the session’s refresh token, answers the end-session URL and clears every cookie', async () => {
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    await browser.authorize(agent);
    const stale = browser.for('/oauth-agent/refresh');
    expect([...browser.cookies.keys()].some((n) => n.startsWith('__Host-th-login-'))).toBe(true);
    const result = await browser.run('/oauth-agent/logout', (c) => agent.logout(c));
    expect(result.event).toEqual({ name: 'logout', revoked: true });
    const url = new URL(result.body.logout_url!);
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe(`${PUBLIC_ORIGIN}/`);
    expect(url.searchParams.has('id_token_hint')).toBe(false);
    expect(browser.cookies.size).toBe(0);
    // The provider no longer honours the refresh token.
    expect(await thrown(agent.refresh({}, stale))).toMatchObject({ code: 'session_expired', reason: 'refresh_invalid_grant' });
  });

  it('never revokes a refresh token planted without its session', async () => {
    const { agent } = makeAgent(stack);
    const owner = new AgentBrowser();
    await owner.login(agent);
    const planted = new Map([['__Secure-th-rt', [owner.cookies.get('__Secure-th-rt')!.value]]]);
    const result = await agent.logout(planted);
    expect(result.event).toEqual({ name: 'logout', revoked: false, revocation: 'no_refresh_token' });
    expect(result.cookies.find((c) => c.name === '__Secure-th-rt')).toMatchObject({ maxAge: 0 });
    // Its owner's session still refreshes.
    expect((await owner.run('/oauth-agent/refresh', (c) => agent.refresh({}, c))).event).toMatchObject({ name: 'refresh' });
  });

  it('revokes nothing when TH_REVOKE_ON_LOGOUT is off, and logs out locally when the provider is down', async () => {
    const { agent } = makeAgent(stack, { TH_REVOKE_ON_LOGOUT: 'false' });
    const browser = new AgentBrowser();
    await browser.login(agent);
    expect((await agent.logout(browser.for('/oauth-agent/logout'))).event).toEqual({ name: 'logout', revoked: false, revocation: 'disabled' });
    const down = makeAgent(stack, { TH_ISSUER: 'http://127.0.0.1:9' });
    const result = await down.agent.logout(browser.for('/oauth-agent/logout'));
    expect(result.body).toEqual({});
    expect(result.cookies.filter((c) => c.maxAge === 0).map((c) => c.name)).toEqual(expect.arrayContaining(['__Host-th-at', '__Secure-th-rt', '__Secure-th-id']));
  });
});
