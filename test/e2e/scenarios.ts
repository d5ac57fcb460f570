/**
 * The browser scenarios of issue 6, one `it` per numbered point (1-8), and those of issue 12's
 * shared state (9-11: tabs refreshing together, the SPA client's Web Lock, back-channel logout),
 * written once and run against every target (the token handler on Node, and in workerd). Each test has its own browser context (its own
 * cookies and storage) and logs in itself, so each can run and fail alone; the stack is shared by
 * a file, except where a test needs other provider settings.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml } from '../../examples/provider.js';
import { BrowserSession, launchChromium } from './browser.js';
import {
  NAMES,
  SESSION_COOKIES,
  callApi,
  callLog,
  claims,
  expectNoToken,
  finishLoginAtProvider,
  logIn,
  openSpa,
  originCookies,
  refreshTokenInBrowser,
  settled,
  shownError,
  startLogin,
  status,
  tokenHandlerCookies,
} from './spa.js';
import { AGENT_PATH, CLIENT_ID, randomSecret, startE2eStack, type E2eStack, type IssuedTokens, type Target } from './stack.js';

/** The demo provider's access-token lifetime in the expiry scenario, in seconds. */
const SHORT_ACCESS_TOKEN_TTL = 4;

export function defineScenarios(target: Target): void {
  describe(`the example SPA in Chromium, token handler on ${target.name}`, () => {
    let browser: Browser;
    let stack: E2eStack;
    let session: BrowserSession | undefined;

    beforeAll(async () => {
      [browser, stack] = await Promise.all([launchChromium(), startE2eStack(target)]);
    });
    afterEach(async () => {
      await session?.close();
      session = undefined;
    });
    afterAll(async () => {
      await browser?.close();
      await stack?.close();
    });

    const open = async (test: string, on: E2eStack = stack) =>
      (session = await BrowserSession.open(browser, { target: target.name, test, origin: on.urls.origin }));

    /** A tab on the SPA, logged in as the demo user. */
    const loggedInTab = async (s: BrowserSession, on: E2eStack = stack): Promise<Page> => {
      const page = await s.newPage();
      await s.step('logged in', async () => {
        expect(await openSpa(page, on)).toBe('logged-out');
        expect(await logIn(page, on)).toBe('logged-in');
      });
      return page;
    };

    it('1. first visit: not logged in; log in at the provider (another site), back with the claims and no code or state in the URL', async () => {
      const s = await open('1 login');
      const page = await s.newPage();

      await s.step('first visit', async () => {
        expect(await openSpa(page, stack)).toBe('logged-out');
        expect(await status(page)).toBe('Not logged in');
        expect(await shownError(page)).toBeUndefined();
        expect(await page.locator('#call-api').isDisabled()).toBe(true);
        expect(await page.locator('#login').isEnabled()).toBe(true);
      });

      await s.step('at the provider', async () => {
        await startLogin(page, stack);
        const url = new URL(page.url());
        // Another site: 127.0.0.1 and localhost are different hosts, so different sites.
        expect(url.origin).toBe(stack.urls.issuer);
        expect(url.hostname).toBe('127.0.0.1');
      });

      await s.step('credentials typed', async () => {
        await page.getByLabel('Username').pressSequentially('demo');
        await page.getByLabel('Password').pressSequentially('demo');
      });

      await s.step('consent', async () => {
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('heading', { name: 'Authorize' }).waitFor();
        expect(await page.locator('#scopes').textContent()).toContain('openid');
      });

      await s.step('back on the SPA', async () => {
        await page.getByRole('button', { name: 'Allow' }).click();
        await page.waitForURL((url) => url.origin === stack.urls.origin);
        expect(await settled(page)).toBe('logged-in');
        expect(await status(page)).toBe('Logged in as Demo User (demo)');
        expect(await claims(page)).toMatchObject({ sub: 'demo', name: 'Demo User', iss: stack.urls.issuer, aud: stack.clientId });
        expect(await shownError(page)).toBeUndefined();
        // The callback's parameters were removed from the address bar (and from this history entry).
        expect(page.url()).toBe(stack.urls.spa);
        expect(await page.evaluate(() => location.search + location.hash)).toBe('');
        // The SPA got there by finishing the login with the token handler, not by luck.
        const readable = await s.settled();
        expect(readable.some((r) => r.method === 'POST' && new URL(r.url).pathname === `${AGENT_PATH}/login/end` && r.status === 200)).toBe(true);
      });
    });

    it('2. calls the API through the proxy and shows its answer with the right sub', async () => {
      const s = await open('2 api call');
      const page = await loggedInTab(s);
      const upstreamBefore = stack.upstreamRequests.length;

      await s.step('api called', async () => {
        const result = await callApi(page);
        expect(result.status).toBe(200);
        expect(result.body['sub']).toBe('demo');
        expect(result.body['sub']).toBe((await claims(page))['sub']);
        expect(result.body['scope']).toContain('openid');
        expect((await callLog(page)).at(-1)).toBe('GET /api/whoami → 200');
        // It went upstream once, with the access token the provider issued for this login.
        const arrived = stack.upstreamRequests.slice(upstreamBefore);
        expect(arrived.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/whoami']);
        expect(arrived[0]!.headers['authorization']).toBe(`Bearer ${stack.issued.at(-1)!.accessToken}`);
        expect(arrived[0]!.headers['cookie']).toBeUndefined();
      });
    });

    it('3. keeps every token out of page JavaScript, and its cookies HttpOnly, Secure, SameSite=Strict', async () => {
      const s = await open('3 token confinement');
      const issuedBefore = stack.issued.length;
      const page = await loggedInTab(s);
      await s.step('api called', async () => {
        expect((await callApi(page)).status).toBe(200);
      });
      const tokens = stack.issued.slice(issuedBefore).flatMap((t) => [t.accessToken, t.refreshToken, t.idToken]);
      expect(tokens.every((t) => typeof t === 'string')).toBe(true);
      const issuedTokens = tokens as string[];

      await s.step('document.cookie and storage', async () => {
        const seen = await page.evaluate(async () => {
          const databases = await indexedDB.databases();
          const stores: unknown[] = [];
          for (const { name } of databases) {
            if (!name) continue;
            const db = await new Promise<IDBDatabase>((resolve, reject) => {
              const request = indexedDB.open(name);
              request.onsuccess = () => resolve(request.result);
              request.onerror = () => reject(request.error);
            });
            for (const storeName of db.objectStoreNames) {
              const all = db.transaction(storeName).objectStore(storeName).getAll();
              stores.push(await new Promise((resolve) => (all.onsuccess = () => resolve(all.result))));
            }
            db.close();
          }
          const dump = (storage: Storage) => Object.fromEntries(Array.from({ length: storage.length }, (_, i) => storage.key(i)!).map((k) => [k, storage.getItem(k)]));
          return {
            cookie: document.cookie,
            local: dump(localStorage),
            session: dump(sessionStorage),
            databases: databases.map((d) => d.name),
            stores,
            caches: await caches.keys(),
            windowName: window.name,
            url: location.href,
            html: document.documentElement.outerHTML,
          };
        });
        for (const name of NAMES.all) expect(seen.cookie).not.toContain(name);
        expect(seen.cookie).toBe('');
        expectNoToken(JSON.stringify(seen), issuedTokens, 'what page JavaScript can read (cookies, storage, IndexedDB, DOM, URL)');
      });

      await s.step('readable responses', async () => {
        const readable = await s.settled();
        const paths = readable.map((r) => `${r.method} ${new URL(r.url).pathname}`);
        // The answers that matter are among them: the login, the session and the API call.
        expect(paths).toEqual(expect.arrayContaining([`POST ${AGENT_PATH}/login/start`, `POST ${AGENT_PATH}/login/end`, 'GET /api/whoami']));
        expectNoToken(JSON.stringify(readable), issuedTokens, 'a response from the SPA’s origin');
      });

      await s.step('cookie store', async () => {
        const cookies = await tokenHandlerCookies(s.context, stack);
        // Exactly the session cookies; the login transaction is gone.
        expect(cookies.map((c) => c.name).sort()).toEqual(SESSION_COOKIES.map((c) => c.name).sort());
        const now = Date.now() / 1000;
        for (const spec of SESSION_COOKIES) {
          const cookie = cookies.find((c) => c.name === spec.name)!;
          expect(cookie, spec.name).toMatchObject({ path: spec.path, httpOnly: true, secure: true, sameSite: 'Strict', domain: 'localhost' });
          // A persistent cookie for the session's lifetime (8 hours by default), not a session cookie.
          expect(cookie.expires).toBeGreaterThan(now + 28_800 - 120);
          expect(cookie.expires).toBeLessThanOrEqual(now + 28_800 + 5);
          expect(cookie.value).toMatch(/^Fe26\.2\*k1\*/);
        }
        expectNoToken(cookies.map((c) => c.value).join('\n'), issuedTokens, 'a cookie value');
      });
    });

    it('4. after the access token expires, the API answers 401, the SPA refreshes and retries, without another login', async () => {
      const short = await startE2eStack(target, { accessTokenTtl: SHORT_ACCESS_TOKEN_TTL });
      try {
        const s = await open('4 expiry', short);
        const page = await loggedInTab(s, short);
        expect(short.issued.map((t) => t.grantType)).toEqual(['authorization_code']);

        await s.step('access token expired', () => accessTokenExpired(page));

        await s.step('api called after expiry', async () => {
          const upstreamBefore = short.upstreamRequests.length;
          const readableBefore = (await s.settled()).length;
          const result = await callApi(page);
          expect(result.status).toBe(200);
          expect(result.body['sub']).toBe('demo');
          expect((await callLog(page)).slice(-3)).toEqual(['GET /api/whoami → 401', 'POST /oauth-agent/refresh → 200', 'GET /api/whoami → 200']);
          // The 401 is the token handler's own (the expired token never went upstream); the retry
          // carried the token from the refresh.
          const answers = (await s.settled()).slice(readableBefore).map((r) => ({ path: new URL(r.url).pathname, status: r.status, body: r.body }));
          expect(JSON.parse(answers.find((a) => a.path === '/api/whoami' && a.status === 401)!.body)).toMatchObject({ error_code: 'token_expired' });
          expect(short.issued.map((t) => t.grantType)).toEqual(['authorization_code', 'refresh_token']);
          const arrived = short.upstreamRequests.slice(upstreamBefore);
          expect(arrived.map((r) => r.path)).toEqual(['/api/whoami']);
          expect(arrived[0]!.headers['authorization']).toBe(`Bearer ${short.issued[1]!.accessToken}`);
          // No new login: still on the SPA, still logged in, no trip to the provider.
          expect(new URL(page.url()).origin).toBe(short.urls.origin);
          expect(await status(page)).toBe('Logged in as Demo User (demo)');
          expect(await shownError(page)).toBeUndefined();
        });
      } finally {
        await session?.close();
        session = undefined;
        await short.close();
      }
    });

    it('5. the session survives a reload and a token-handler restart, and ends cleanly when its sealing key is retired', async () => {
      const s = await open('5 reload and restart');
      const page = await loggedInTab(s);
      const firstKeys = stack.cookieKeys;

      await s.step('reloaded', async () => {
        await page.reload();
        expect(await settled(page)).toBe('logged-in');
        expect(await status(page)).toBe('Logged in as Demo User (demo)');
      });

      await s.step('token handler restarted', async () => {
        await stack.restartTokenHandler();
        await page.reload();
        expect(await settled(page)).toBe('logged-in');
        expect((await callApi(page)).status).toBe(200);
      });

      await s.step('keys rotated, old key kept', async () => {
        // A new sealing key first; the old one still unseals (contract §3: rotation without logout).
        await stack.restartTokenHandler({ TH_COOKIE_KEYS: `k2:${randomSecret()},${firstKeys}` });
        await page.reload();
        expect(await settled(page)).toBe('logged-in');
        expect((await callApi(page)).status).toBe(200);
      });

      await s.step('old key retired', async () => {
        await stack.restartTokenHandler({ TH_COOKIE_KEYS: `k3:${randomSecret()}` });
        const readableBefore = (await s.settled()).length;
        await page.reload();
        expect(await settled(page)).toBe('logged-out');
        // Nothing more happens on its own: no retry loop, no redirect to the provider.
        await page.waitForLoadState('networkidle');
        expect(await settled(page)).toBe('logged-out');
        expect(await status(page)).toBe('Not logged in');
        expect(await shownError(page)).toBeUndefined();
        expect(page.url()).toBe(stack.urls.spa);
        const calls = (await s.settled()).slice(readableBefore).filter((r) => new URL(r.url).pathname.startsWith(AGENT_PATH));
        expect(calls.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`)).toEqual([`GET ${AGENT_PATH}/session 200`]);
        expect(await page.locator('#call-api').isDisabled()).toBe(true);
      });

      await s.step('logged in again', async () => {
        expect(await logIn(page, stack)).toBe('logged-in');
        expect((await callApi(page)).status).toBe(200);
        const cookies = await tokenHandlerCookies(s.context, stack);
        for (const cookie of cookies) expect(cookie.value, cookie.name).toMatch(/^Fe26\.2\*k3\*/);
      });
    });

    /** Two tabs on the SPA, both at the provider's sign-in page with their own login transaction. */
    const twoTabsAtProvider = async (s: BrowserSession, together: boolean): Promise<[Page, Page]> => {
      const [first, second] = [await s.newPage(), await s.newPage()];
      await s.step('both tabs open', async () => {
        expect(await Promise.all([openSpa(first, stack), openSpa(second, stack)])).toEqual(['logged-out', 'logged-out']);
      });
      await s.step('both at the provider', async () => {
        if (together) {
          // Hold both tabs' login/start requests until both are in flight, then let them go at
          // once: neither carries the other's transaction cookie, as when two tabs really click
          // together. (Without this the second click usually lands after the first answer.)
          let release = () => {};
          const bothSent = new Promise<void>((resolve) => (release = resolve));
          let held = 0;
          const loginStart = `${stack.urls.origin}${AGENT_PATH}/login/start`;
          await s.context.route(loginStart, async (route) => {
            if (++held === 2) release();
            await bothSent;
            await route.continue();
          });
          await Promise.all([startLogin(first, stack), startLogin(second, stack)]);
          await s.context.unroute(loginStart);
          expect(held).toBe(2);
        } else {
          await startLogin(first, stack);
          await startLogin(second, stack);
        }
        // One sealed login transaction per tab (contract §1.2, "Parallel logins").
        const cookies = await tokenHandlerCookies(s.context, stack);
        expect(cookies.filter((c) => c.name.startsWith('__Host-th-login-')).map((c) => c.name)).toHaveLength(2);
      });
      return [first, second];
    };

    /** Finishes both logins, the second tab first, and checks both tabs show the session. */
    const finishBoth = async (s: BrowserSession, [first, second]: [Page, Page]) => {
      await s.step('second tab finished', async () => {
        expect(await finishLoginAtProvider(second, stack)).toBe('logged-in');
      });
      await s.step('first tab finished', async () => {
        expect(await finishLoginAtProvider(first, stack)).toBe('logged-in');
        for (const page of [first, second]) {
          expect(await status(page)).toBe('Logged in as Demo User (demo)');
          expect(await shownError(page)).toBeUndefined();
          expect(page.url()).toBe(stack.urls.spa);
        }
        // Both transactions are used up; the session cookies are all that is left.
        const cookies = await tokenHandlerCookies(s.context, stack);
        expect(cookies.map((c) => c.name).sort()).toEqual(SESSION_COOKIES.map((c) => c.name).sort());
        expect((await callApi(first)).status).toBe(200);
      });
    };

    it('6. two tabs that start a login one after the other both finish logged in, in either order', async () => {
      const s = await open('6 two tabs one after the other');
      await finishBoth(s, await twoTabsAtProvider(s, false));
    });

    it('6. two tabs that start a login at the same time both finish logged in', async () => {
      const s = await open('6 two tabs at the same time');
      await finishBoth(s, await twoTabsAtProvider(s, true));
    });

    it('7. logout goes to the provider and back; cookies gone, refresh token dead, back button restores nothing', async () => {
      const s = await open('7 logout');
      const page = await loggedInTab(s);
      const refreshToken = await refreshTokenInBrowser(s.context, stack);
      const loggedInEntry = await page.evaluate(() => history.length);
      // The cookie holds the live refresh token the provider issued for this login.
      expect(refreshToken).toBe(stack.issued.at(-1)!.refreshToken);

      await s.step('provider asks to sign out', async () => {
        await page.locator('#logout').click();
        await page.waitForURL((url) => url.origin === stack.urls.issuer);
        await page.getByRole('button', { name: 'Yes, sign me out' }).waitFor();
        // The token handler cleared its cookies before the browser left.
        expect(await tokenHandlerCookies(s.context, stack)).toEqual([]);
      });

      await s.step('back on the SPA, logged out', async () => {
        await page.getByRole('button', { name: 'Yes, sign me out' }).click();
        await page.waitForURL((url) => url.origin === stack.urls.origin);
        expect(await settled(page)).toBe('logged-out');
        expect(await status(page)).toBe('Not logged in');
        expect(await shownError(page)).toBeUndefined();
        expect(await tokenHandlerCookies(s.context, stack)).toEqual([]);
        const atProvider = await stack.refreshAtProvider(refreshToken);
        expect(atProvider.status).toBe(400);
        expect(atProvider.body['error']).toBe('invalid_grant');
      });

      await s.step('back button', async () => {
        // Back past the provider's page, straight to the history entry of the logged-in SPA (the
        // back button's menu does that): the browser may restore that page from its
        // back/forward cache, and the SPA must not show the old session then.
        const entriesNow = await page.evaluate(() => history.length);
        // Both entries have the same URL, so wait for the navigation itself; history.go runs after
        // evaluate returns, since a page restored from the cache can replace this one at once.
        const navigated = page.waitForEvent('framenavigated', (frame) => frame === page.mainFrame());
        await page.evaluate((delta) => void setTimeout(() => history.go(delta)), loggedInEntry - entriesNow);
        await navigated;
        // (No load event to wait for when the page comes back from the cache.)
        expect(page.url()).toBe(stack.urls.spa);
        expect(await settled(page)).toBe('logged-out');
        expect(await status(page)).not.toContain('Logged in');
        expect(await page.locator('#claims').textContent()).toBe('–');
        expect(await page.locator('#call-api').isDisabled()).toBe(true);
        const session = await page.evaluate(async () => (await fetch('/oauth-agent/session')).json());
        expect(session).toEqual({ is_logged_in: false });
        expect(await tokenHandlerCookies(s.context, stack)).toEqual([]);
      });
    });

    it('8. a page on another site gets nothing through with fetch or a form (no upstream call, no cookie change)', async () => {
      const s = await open('8 cross-site');
      const spaPage = await loggedInTab(s);
      const evil = await startCrossSitePage(stack.urls.origin);
      try {
        const cookiesBefore = await originCookies(s.context, stack);
        expect(cookiesBefore.map((c) => c.name)).toEqual(expect.arrayContaining(SESSION_COOKIES.map((c) => c.name)));
        const upstreamBefore = stack.upstreamRequests.length;
        const page = await s.newPage();

        await s.step('cross-site fetches', async () => {
          await page.goto(evil.url);
          expect(new URL(page.url()).hostname).toBe('127.0.0.1');
          const outcomes = await page.evaluate(async (origin) => {
            const attempts: [string, string, RequestInit][] = [
              ['GET /api/whoami', '/api/whoami', { credentials: 'include' }],
              ['GET /api/whoami no-cors', '/api/whoami', { credentials: 'include', mode: 'no-cors' }],
              ['POST /api/echo', '/api/echo', { method: 'POST', credentials: 'include', headers: { 'token-handler-version': '1' }, body: 'x=1' }],
              ['POST /api/echo no-cors', '/api/echo', { method: 'POST', credentials: 'include', mode: 'no-cors', body: 'x=1' }],
              ['POST refresh', '/oauth-agent/refresh', { method: 'POST', credentials: 'include', headers: { 'token-handler-version': '1' } }],
              ['POST refresh no-cors', '/oauth-agent/refresh', { method: 'POST', credentials: 'include', mode: 'no-cors' }],
              ['GET session', '/oauth-agent/session', { credentials: 'include' }],
            ];
            const out: Record<string, string> = {};
            for (const [name, path, init] of attempts) {
              try {
                const response = await fetch(origin + path, init);
                out[name] = `${response.type} ${response.status} ${await response.text()}`;
              } catch (error) {
                out[name] = `failed: ${(error as Error).name}`;
              }
            }
            return out;
          }, stack.urls.origin);
          // CORS refuses to let the page read anything; no-cors answers are opaque.
          expect(outcomes).toEqual({
            'GET /api/whoami': 'failed: TypeError',
            'GET /api/whoami no-cors': 'opaque 0 ',
            'POST /api/echo': 'failed: TypeError',
            'POST /api/echo no-cors': 'opaque 0 ',
            'POST refresh': 'failed: TypeError',
            'POST refresh no-cors': 'opaque 0 ',
            'GET session': 'failed: TypeError',
          });
        });

        for (const [form, path] of [
          ['api', '/api/echo'],
          ['refresh', `${AGENT_PATH}/refresh`],
        ] as const) {
          await s.step(`cross-site form post to ${form}`, async () => {
            await page.goto(evil.url);
            const answer = page.waitForResponse((r) => r.url() === stack.urls.origin + path);
            await page.locator(`#${form} button`).click();
            const response = await answer;
            expect(response.status()).toBe(401);
            expect(await response.json()).toEqual({ error_code: 'unauthorized_request', detailed_error: expect.any(String) });
          });
        }

        await s.step('cross-site link to the api', async () => {
          // A top-level GET from another site: SameSite=Strict keeps the access-token cookie home.
          await page.goto(evil.url);
          const answer = page.waitForResponse((r) => r.url() === `${stack.urls.origin}/api/whoami`);
          await page.locator('#link').click();
          const response = await answer;
          expect(response.status()).toBe(401);
          expect(await response.json()).toMatchObject({ error_code: 'unauthorized_request' });
        });

        await s.step('nothing changed', async () => {
          expect(stack.upstreamRequests.slice(upstreamBefore)).toEqual([]);
          expect(await originCookies(s.context, stack)).toEqual(cookiesBefore);
          // The SPA's own session is untouched and still works.
          await spaPage.reload();
          expect(await settled(spaPage)).toBe('logged-in');
          expect((await callApi(spaPage)).status).toBe(200);
        });
      } finally {
        await evil.close();
      }
    });

    describe('with short-lived access tokens', () => {
      let short: E2eStack;
      beforeAll(async () => {
        short = await startE2eStack(target, { accessTokenTtl: SHORT_ACCESS_TOKEN_TTL });
      });
      afterAll(async () => {
        await short?.close();
      });

      /** Two tabs of one browser on the SPA, logged in (the second by the shared cookies), the access token expired. */
      const twoTabsExpired = async (s: BrowserSession): Promise<{ tabs: [Page, Page]; loginRefreshToken: string }> => {
        const first = await loggedInTab(s, short);
        const loginRefreshToken = short.issued.at(-1)!.refreshToken!;
        const second = await s.newPage();
        await s.step('second tab open', async () => {
          expect(await openSpa(second, short)).toBe('logged-in');
        });
        await s.step('access token expired', () => accessTokenExpired(first));
        return { tabs: [first, second], loginRefreshToken };
      };

      it('9. two tabs call the API at the same instant with the access token expired: both get the answer and stay logged in', async () => {
        const s = await open('9 two tabs refresh at once', short);
        const { tabs, loginRefreshToken } = await twoTabsExpired(s);
        const issuedBefore = short.issued.length;
        const errorsBefore = short.grantErrors.length;

        await s.step('both tabs called the API', async () => {
          // Hold both tabs' first API calls until both are in flight, then let them go at once: both
          // find the token expired together and both refresh.
          const api = `${short.urls.origin}/api/whoami`;
          let release = () => {};
          const bothSent = new Promise<void>((resolve) => (release = resolve));
          let held = 0;
          await s.context.route(api, async (route) => {
            if (++held <= 2) {
              if (held === 2) release();
              await bothSent;
            }
            await route.continue();
          });
          await Promise.all(tabs.map(clickCallApi));
          const states = await Promise.all(tabs.map(settled));
          await s.context.unroute(api);
          expect(states).toEqual(['logged-in', 'logged-in']);
          // Each tab's first call and its retry.
          expect(held).toBe(4);
          for (const page of tabs) {
            const shown = /^HTTP 200\n([\s\S]*)$/.exec((await page.locator('#api-result').textContent()) ?? '');
            expect(JSON.parse(shown?.[1] ?? 'null')).toMatchObject({ sub: 'demo' });
            expect((await callLog(page)).slice(-3)).toEqual(['GET /api/whoami → 401', 'POST /oauth-agent/refresh → 200', 'GET /api/whoami → 200']);
            expect(await shownError(page)).toBeUndefined();
          }
          // The provider never saw a refresh token twice (its reuse detection would have ended the grant).
          expect(short.grantErrors.slice(errorsBefore)).toEqual([]);
          expectOneRefreshPerGeneration(short.issued.slice(issuedBefore), loginRefreshToken);
        });

        await s.step('still logged in in each tab', async () => {
          for (const page of tabs) {
            await page.reload();
            expect(await settled(page)).toBe('logged-in');
            expect(await status(page)).toBe('Logged in as Demo User (demo)');
            expect((await callApi(page)).status).toBe(200);
            const session = await page.evaluate(async () => (await fetch('/oauth-agent/session', { headers: { 'token-handler-version': '1' } })).json());
            expect(session).toMatchObject({ is_logged_in: true });
          }
          // The refresh token the browser holds now is the newest one of a live grant.
          await tabs[0].bringToFront();
          await tabs[0].locator('#refresh').click();
          expect(await settled(tabs[0])).toBe('logged-in');
          expect((await callLog(tabs[0])).at(-1)).toBe('POST /oauth-agent/refresh → 200');
          expect(short.grantErrors.slice(errorsBefore)).toEqual([]);
          expectOneRefreshPerGeneration(short.issued.slice(issuedBefore), loginRefreshToken);
        });
      });

      it('10. the SPA client’s refreshes in two tabs queue behind its Web Lock: the second starts after the first answered, with the token it brought', async () => {
        const s = await open('10 web lock', short);
        const { tabs, loginRefreshToken } = await twoTabsExpired(s);
        const issuedBefore = short.issued.length;
        const refreshUrl = `${short.urls.origin}${AGENT_PATH}/refresh`;
        const arrived: Page[] = [];
        let releaseFirst = () => {};
        const firstReleased = new Promise<void>((resolve) => (releaseFirst = resolve));
        // The first refresh to leave a tab is held here; any other goes on at once.
        await s.context.route(refreshUrl, async (route) => {
          if (arrived.push(route.request().frame().page()) === 1) await firstReleased;
          await route.continue();
        });
        try {
          await s.step('first refresh held, second tab waiting', async () => {
            await Promise.all(tabs.map(clickCallApi));
            // Both tabs got their 401 and want a refresh: either the second one's request arrives
            // too, or its tab waits for the lock the first one holds.
            await expect
              .poll(async () => arrived.length >= 2 || (arrived.length === 1 && (await refreshLock(tabs[0])).pending > 0), { timeout: 30_000 })
              .toBe(true);
            expect(arrived).toHaveLength(1);
            expect(await refreshLock(tabs[0])).toEqual({ held: 1, pending: 1 });
            expect(refreshChain(short.issued.slice(issuedBefore))).toEqual([]);
          });

          await s.step('first refresh answered, then the second ran', async () => {
            releaseFirst();
            expect(await Promise.all(tabs.map(settled))).toEqual(['logged-in', 'logged-in']);
            expect(arrived).toHaveLength(2);
            expect(new Set(arrived).size).toBe(2);
            // The second refresh presented the refresh token the first one brought: it left its tab
            // after the first answer had set the cookies.
            const chain = refreshChain(short.issued.slice(issuedBefore));
            expect(chain).toHaveLength(2);
            expect(chain[0]!.presented).toBe(loginRefreshToken);
            expect(chain[1]!.presented).toBe(chain[0]!.brought);
            expect(await refreshLock(tabs[0])).toEqual({ held: 0, pending: 0 });
            for (const page of tabs) {
              expect((await callLog(page)).slice(-3)).toEqual(['GET /api/whoami → 401', 'POST /oauth-agent/refresh → 200', 'GET /api/whoami → 200']);
              expect(await status(page)).toBe('Logged in as Demo User (demo)');
            }
          });
        } finally {
          // Also when a step failed: let the held request go, and wait for the handlers to finish.
          releaseFirst();
          await s.context.unrouteAll({ behavior: 'wait' });
        }
      });
    });

    it('11. signing out at the provider’s own end-session page ends the SPA’s session (back-channel logout), and a copy of its cookies is refused', async () => {
      const s = await open('11 back-channel logout');
      const page = await loggedInTab(s);
      await s.step('api called', async () => {
        expect((await callApi(page)).status).toBe(200);
      });
      const copied = await tokenHandlerCookies(s.context, stack);
      expect(copied.map((c) => c.name).sort()).toEqual(SESSION_COOKIES.map((c) => c.name).sort());
      const deliveriesBefore = stack.backchannelDeliveries.length;
      const upstreamBefore = stack.upstreamRequests.length;
      const providerTab = await s.newPage();

      await s.step('signed out at the provider', async () => {
        // The provider's own page, not the SPA's logout: the token handler hears of it only over the back channel.
        const endSession = new URL('/session/end', stack.urls.issuer);
        endSession.searchParams.set('client_id', CLIENT_ID);
        endSession.searchParams.set('post_logout_redirect_uri', stack.urls.spa);
        await providerTab.goto(endSession.href);
        await providerTab.getByRole('button', { name: 'Yes, sign me out' }).click();
        await providerTab.waitForURL((url) => url.origin === stack.urls.origin);
        expect(stack.backchannelDeliveries.slice(deliveriesBefore)).toEqual(['success']);
        // Back on the SPA with the session's cookies still in the browser: the token handler says it is over.
        expect(await settled(providerTab)).toBe('logged-out');
        expect(await status(providerTab)).toBe('Not logged in');
      });

      await s.step('api call in the first tab refused', async () => {
        await page.bringToFront();
        await page.locator('#call-api').click();
        expect(await settled(page)).toBe('logged-out');
        expect(await status(page)).toBe('Logged out: the session has ended');
        expect((await callLog(page)).slice(-2)).toEqual(['GET /api/whoami → 401', 'POST /oauth-agent/refresh → 401']);
      });

      await s.step('a copy of the cookies refused', async () => {
        await s.context.addCookies(copied);
        const seen = await page.evaluate(async () => {
          const headers = { 'token-handler-version': '1' };
          const session = await (await fetch('/oauth-agent/session', { headers })).json();
          const api = await fetch('/api/whoami', { headers });
          return { session, api: { status: api.status, body: await api.json() } };
        });
        expect(seen.session).toEqual({ is_logged_in: false });
        expect(seen.api.status).toBe(401);
        expect(seen.api.body).toMatchObject({ error_code: 'unauthorized_request' });
        // The access token had minutes left, yet nothing went upstream after the sign-out.
        expect(stack.upstreamRequests.slice(upstreamBefore)).toEqual([]);
      });
    });
  });
}

/** Waits until the session endpoint, which counts the sealed access token's lifetime down, says zero. */
async function accessTokenExpired(page: Page): Promise<void> {
  await expect
    .poll(
      () =>
        page.evaluate(async () => {
          const response = await fetch('/oauth-agent/session', { headers: { 'token-handler-version': '1' } });
          return ((await response.json()) as { access_token_expires_in?: number }).access_token_expires_in;
        }),
      { timeout: (SHORT_ACCESS_TOKEN_TTL + 10) * 1000, interval: 250 },
    )
    .toBe(0);
}

/** The refresh-token generations the provider saw, oldest first: each refresh grant's presented and new refresh token. */
function refreshChain(issued: readonly IssuedTokens[]): { presented: string | undefined; brought: string | undefined }[] {
  return issued.filter((t) => t.grantType === 'refresh_token').map((t) => ({ presented: t.presentedRefreshToken, brought: t.refreshToken }));
}

/** Fails unless every refresh presented the refresh token issued just before it: no token presented twice, none after it was rotated away. */
function expectOneRefreshPerGeneration(issued: readonly IssuedTokens[], loginRefreshToken: string): void {
  const chain = refreshChain(issued);
  expect(chain.length).toBeGreaterThan(0);
  let current: string | undefined = loginRefreshToken;
  for (const link of chain) {
    expect(link.presented, 'a refresh presented a refresh token other than the newest one').toBe(current);
    current = link.brought;
  }
}

/** What the example SPA's client holds of the Web Lock it takes around refresh (the lock is the origin's, shared by its tabs). */
async function refreshLock(page: Page): Promise<{ held: number; pending: number }> {
  return page.evaluate(async () => {
    const { held = [], pending = [] } = await navigator.locks.query();
    const mine = (lock: LockInfo) => lock.name === 'token-handler-refresh';
    return { held: held.filter(mine).length, pending: pending.filter(mine).length };
  });
}

/** Clicks "Call API" without waiting for the answer (a page's own click, so a background tab needs no animation frame). */
async function clickCallApi(page: Page): Promise<void> {
  await page.evaluate(() => (document.getElementById('call-api') as HTMLButtonElement).click());
}

/** A page on another site (127.0.0.1, its own port) with forms and a link aimed at the token handler. */
async function startCrossSitePage(origin: string): Promise<{ url: string; close(): Promise<void> }> {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another site</title></head><body>
<h1>Another site</h1>
<form id="api" method="post" action="${escapeHtml(origin)}/api/echo"><input type="hidden" name="x" value="1"><button type="submit">POST /api/echo</button></form>
<form id="refresh" method="post" action="${escapeHtml(origin)}${AGENT_PATH}/refresh"><input type="hidden" name="token-handler-version" value="1"><button type="submit">POST refresh</button></form>
<p><a id="link" href="${escapeHtml(origin)}/api/whoami">GET /api/whoami</a></p>
</body></html>`;
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
