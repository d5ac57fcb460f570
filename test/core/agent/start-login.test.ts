/**
 * startLogin against the real provider: the authorization request (contract §1.2) and its
 * transaction cookie.
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

describe('startLogin', () => {
  it('builds the authorization request and stores its transaction in a cookie named after the state', async () => {
    const { agent } = makeAgent(stack);
    const result = await agent.startLogin({}, new Map());
    const url = new URL(result.body.authorization_url);
    expect(url.origin).toBe(stack.provider.issuer);
    expect(url.searchParams.get('redirect_uri')).toBe(`${PUBLIC_ORIGIN}/`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const state = url.searchParams.get('state')!;
    expect(result.cookies).toEqual([{ name: `__Host-th-login-${state.slice(0, 12)}`, value: expect.stringMatching(/^Fe26\.2\*/), path: '/', maxAge: 600 }]);
    expect(result.event).toEqual({ name: 'login_start', par: false });
    // The transaction it stored is the one login/end finds.
    const browser = new AgentBrowser();
    browser.apply(result.cookies);
    const refused = await thrown(agent.endLogin({ state, code: 'not-a-code', iss: stack.provider.issuer }, browser.for('/oauth-agent/login/end')));
    expect(refused.code).toBe('authorization_error');
  });

  it('refuses a parameter not on TH_EXTRA_AUTH_PARAMS before anything else, and passes one that is', async () => {
    const { agent, calls } = makeAgent(stack, { TH_EXTRA_AUTH_PARAMS: 'ui_locales' });
    const refused = await thrown(agent.startLogin({ prompt: 'none' }, new Map()));
    expect(refused).toMatchObject({ code: 'invalid_request', reason: 'extra_param_not_allowed' });
    expect(calls).toEqual([]);
    const allowed = await agent.startLogin({ ui_locales: 'de' }, new Map());
    expect(new URL(allowed.body.authorization_url).searchParams.get('ui_locales')).toBe('de');
  });

  it('pushes the request when TH_USE_PAR is on and the provider has a PAR endpoint', async () => {
    const { agent } = makeAgent(stack, { TH_USE_PAR: 'true' });
    const result = await agent.startLogin({}, new Map());
    const url = new URL(result.body.authorization_url);
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(result.event).toEqual({ name: 'login_start', par: true });
  });
});
