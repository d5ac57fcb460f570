// The gateway features in Chromium, through `npm start`'s own stack (examples/start.ts) as
// `DEMO_DPOP=1 npm start` and `DEMO_OPAQUE_ACCESS_TOKENS=1 npm start` run it: the demo provider
// binds tokens to the session's DPoP key (and demands its nonce), or issues opaque access tokens
// that the token handler introspects into JWTs; the example API accepts only a fully verified DPoP
// proof (and demands its own nonce), or only the signed introspection response. The SPA logs in,
// calls the API, and once the access token has expired refreshes and calls it again.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startStack, type Stack } from '../../examples/start.js';
import { BrowserSession, launchChromium } from './browser.js';
import { callApi, callLog, logIn, openSpa, shownError, status } from './spa.js';

/** Short enough to wait for, long enough for a login on a loaded machine. */
const ACCESS_TOKEN_TTL = 4;

for (const flag of ['DEMO_DPOP', 'DEMO_OPAQUE_ACCESS_TOKENS'] as const) {
  describe(`the example SPA in Chromium, npm start with ${flag}=1`, () => {
    let browser: Browser;
    let stack: Stack;
    let session: BrowserSession | undefined;

    beforeAll(async () => {
      [browser, stack] = await Promise.all([
        launchChromium(),
        startStack({ ports: { spa: 0, provider: 0, api: 0 }, env: { [flag]: '1', DEMO_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL) }, quiet: true }),
      ]);
    });
    afterEach(async () => {
      await session?.close();
      session = undefined;
    });
    afterAll(async () => {
      await browser?.close();
      await stack?.close();
    });

    it('logs in, calls the API, and after the access token expires refreshes and calls it again', async () => {
      session = await BrowserSession.open(browser, { target: 'node', test: `gateway ${flag}`, origin: stack.urls.origin });
      const page = await session.newPage();
      await session.step('logged in', async () => {
        expect(await openSpa(page, stack)).toBe('logged-out');
        expect(await logIn(page, stack)).toBe('logged-in');
      });
      await session.step('api called', async () => {
        // The example API answers 200 only for what this mode sends it (a verified DPoP proof, or
        // a signed introspection response): anything else would be its 401.
        const result = await callApi(page);
        expect(result.status).toBe(200);
        expect(result.body['sub']).toBe('demo');
        expect((await callLog(page)).at(-1)).toBe('GET /api/whoami → 200');
      });
      await session.step('refreshed after expiry', async () => {
        await expect
          .poll(
            () =>
              page.evaluate(async () => {
                const response = await fetch('/oauth-agent/session', { headers: { 'token-handler-version': '1' } });
                return ((await response.json()) as { access_token_expires_in?: number }).access_token_expires_in;
              }),
            { timeout: (ACCESS_TOKEN_TTL + 10) * 1000, interval: 250 },
          )
          .toBe(0);
        const result = await callApi(page);
        expect(result.status).toBe(200);
        expect(result.body['sub']).toBe('demo');
        expect((await callLog(page)).slice(-3)).toEqual(['GET /api/whoami → 401', 'POST /oauth-agent/refresh → 200', 'GET /api/whoami → 200']);
        expect(await status(page)).toBe('Logged in as Demo User (demo)');
        expect(await shownError(page)).toBeUndefined();
      });
    });
  });
}
