/**
 * The example SPA's page script (examples/spa/main.ts) with its token handler client, run in a page stand-in against the stack.
 */
import { describe, expect, it, beforeAll, afterAll, vi } from 'vitest';
import { DEMO_CREDENTIALS, startStack, type Stack } from '../../examples/start.js';
import { buildSpa } from '../../examples/spa-server.js';
import { TestBrowser, loginAtProvider } from '../helpers/browser.js';
import { RANDOM_PORTS, browserFetch, openPage } from './stack-harness.js';

// ---------------------------------------------------------------------------------------------
// The SPA's page script (examples/spa/main.ts), run against the stack with a tiny fake DOM: enough
// to check what it calls on load, what it shows, which buttons it enables, and where it navigates.

describe('the SPA page script', () => {
  let stack: Stack;
  let script: string;
  let html: string;

  beforeAll(async () => {
    stack = await startStack({ ports: RANDOM_PORTS, env: {}, quiet: true });
    const files = await buildSpa({ minify: false });
    script = new TextDecoder().decode(files.get('/main.js')!.body);
    html = new TextDecoder().decode(files.get('/index.html')!.body);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('logs in, calls the API, refreshes and logs out, and never starts a login by itself', async () => {
    const browser = new TestBrowser();

    // First visit: not logged in; only "Log in" is enabled.
    let page = openPage(script, html, stack.urls.spa, browserFetch(browser, stack));
    await vi.waitFor(() => expect(page.text('status')).toBe('Not logged in'));
    expect(page.text('error')).toBe('');
    expect(page.enabledButtons()).toEqual(['login']);
    expect(page.logLines()).toEqual(['GET /oauth-agent/session → 200']);

    page.click('login');
    await vi.waitFor(() => expect(page.assigned).toHaveLength(1));
    const callback = await loginAtProvider(browser, page.assigned[0]!, { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });

    // Back from the provider: login/end, then the code and state leave the address bar.
    page = openPage(script, html, callback.href, browserFetch(browser, stack));
    await vi.waitFor(() => expect(page.text('status')).toBe('Logged in as Demo User (demo)'));
    expect(page.replacedWith).toEqual(['/']);
    expect(page.location.href).toBe(stack.urls.spa);
    expect(page.logLines()).toEqual(['POST /oauth-agent/login/end → 200']);
    expect(JSON.parse(page.text('claims'))).toMatchObject({ sub: 'demo', iss: stack.urls.issuer });
    expect(page.enabledButtons()).toEqual(['call-api', 'refresh', 'logout']);
    expect(page.text('expires')).toMatch(/^Access token expires in \d+ s$/);

    page.click('call-api');
    await vi.waitFor(() => expect(page.text('api-result')).toContain('"sub": "demo"'));
    expect(page.text('api-result')).toMatch(/^HTTP 200\n/);

    page.click('refresh');
    await vi.waitFor(() => expect(page.text('api-result')).toContain('access_token_expires_in'));

    page.click('logout');
    await vi.waitFor(() => expect(page.assigned).toHaveLength(1));
    expect(new URL(page.assigned[0]!).origin).toBe(stack.urls.issuer);
    expect(page.text('status')).toBe('Logged out');
    expect(page.logLines()[0]).toBe('POST /oauth-agent/logout → 200');

    // A failed callback (unknown state): shown as an error, the URL cleaned, no new login.
    page = openPage(script, html, `${stack.urls.spa}?error=access_denied&state=unknown`, browserFetch(browser, stack));
    await vi.waitFor(() => expect(page.text('status')).toBe('Not logged in'));
    expect(page.element('error').hidden).toBe(false);
    expect(page.text('error')).toMatch(/^Error 400 invalid_request: /);
    expect(page.replacedWith).toEqual(['/']);
    expect(page.assigned).toEqual([]);
    expect(page.logLines()).toEqual(['GET /oauth-agent/session → 200', 'POST /oauth-agent/login/end → 400']);
  });
});
