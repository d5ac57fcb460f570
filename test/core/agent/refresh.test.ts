/**
 * refresh against the real provider (contract §1.2): the session's refresh token, rotation, the
 * session's id and absolute end kept, and every way there is no session to refresh.
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

const TOKEN_COOKIES = ['__Host-th-at', '__Secure-th-rt', '__Secure-th-id'];
const clearsAll = (setCookies: readonly { name: string; maxAge: number }[]) => {
  for (const name of TOKEN_COOKIES) expect(setCookies.some((c) => c.name === name && c.maxAge === 0), name).toBe(true);
};

describe('refresh', () => {
  it('rotates the tokens under the same id, never past the session’s end', async () => {
    const { agent, clock } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    const before = await agent.sealer.unseal<{ sid: string; t: string }>('rt', browser.cookies.get('__Secure-th-rt')?.value);
    clock.now += 1000_000;
    const result = await browser.run('/oauth-agent/refresh', (c) => agent.refresh({}, c));
    expect(result.event).toEqual({ name: 'refresh', rotated: true });
    expect(result.body.access_token_expires_in).toBe(300);
    // The cookies still end when the session does, counted from login.
    for (const c of result.cookies) expect(c.maxAge).toBe(28800 - 1000);
    const at = await agent.sealer.unseal<{ sid: string }>('at', browser.cookies.get('__Host-th-at')?.value);
    const rt = await agent.sealer.unseal<{ sid: string; t: string }>('rt', browser.cookies.get('__Secure-th-rt')?.value);
    expect(at?.data.sid).toBe(before?.data.sid);
    expect(rt?.data.sid).toBe(before?.data.sid);
    expect(rt?.data.t).not.toBe(before?.data.t);
    expect(rt?.expiresAt).toBe(before?.expiresAt);
    expect((await agent.getSession(browser.for('/oauth-agent/session'))).body['is_logged_in']).toBe(true);
  });

  it('refuses a parameter not on TH_EXTRA_TOKEN_PARAMS', async () => {
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    expect(await thrown(agent.refresh({ scope: 'openid' }, browser.for('/oauth-agent/refresh')))).toMatchObject({ code: 'invalid_request', reason: 'extra_param_not_allowed' });
  });

  it('without a session, or with cookies that are not one, is session_expired and clears them, without calling the provider', async () => {
    const { agent, calls } = makeAgent(stack);
    const mine = new AgentBrowser();
    await mine.login(agent);
    const other = new AgentBrowser();
    await other.login(agent);
    const cookie = (b: AgentBrowser, name: string) => [name, [b.cookies.get(name)!.value]] as [string, string[]];
    const tokenCallsBefore = calls.filter((u) => u.endsWith('/token')).length;
    for (const [cookies, reason] of [
      [new Map(), 'no_refresh_token'],
      [new Map([cookie(mine, '__Host-th-at'), cookie(mine, '__Secure-th-id')]), 'no_refresh_token'],
      [new Map([cookie(other, '__Secure-th-rt'), cookie(other, '__Secure-th-id')]), 'session_cookies_orphaned'],
      [new Map([cookie(other, '__Secure-th-rt')]), 'session_cookies_orphaned'],
      [new Map([cookie(mine, '__Host-th-at'), cookie(other, '__Secure-th-rt'), cookie(mine, '__Secure-th-id')]), 'session_ids_differ'],
      [new Map([cookie(other, '__Host-th-at'), cookie(mine, '__Secure-th-rt'), cookie(mine, '__Secure-th-id')]), 'session_ids_differ'],
    ] as const) {
      const refused = await thrown(agent.refresh({}, cookies));
      expect(refused).toMatchObject({ code: 'session_expired', reason });
      clearsAll(refused.setCookies);
    }
    expect(calls.filter((u) => u.endsWith('/token')).length).toBe(tokenCallsBefore);
  });

  it('a refresh token the provider no longer honours is session_expired, and clears the session', async () => {
    const { agent } = makeAgent(stack);
    const browser = new AgentBrowser();
    await browser.login(agent);
    const stale = browser.for('/oauth-agent/refresh');
    await browser.run('/oauth-agent/refresh', (c) => agent.refresh({}, c));
    const refused = await thrown(agent.refresh({}, stale));
    expect(refused).toMatchObject({ code: 'session_expired', reason: 'refresh_invalid_grant' });
    clearsAll(refused.setCookies);
  });
});
