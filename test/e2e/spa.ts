/**
 * What a person does with the example SPA (examples/spa) and the demo provider's pages, in a real
 * browser: click its buttons, type into the provider's forms, read what the page shows.
 */
import type { BrowserContext, Cookie, Page } from 'playwright-core';
import { expect } from 'vitest';
import { DEMO_USER } from '../../examples/provider.js';
import { parseConfig } from '../../src/config/parse.js';
import { createSealer } from '../../src/core/session/cookie-seal.js';
import { cookieNames, isOwnCookieName } from '../../src/core/session/cookie-table.js';
import { AGENT_PATH, type E2eStack } from './stack.js';

export const NAMES = cookieNames('th');
/** The contract's cookies (§3) with their paths. */
export const SESSION_COOKIES = [
  { name: NAMES.at, path: '/' },
  { name: NAMES.rt, path: AGENT_PATH },
  { name: NAMES.id, path: AGENT_PATH },
] as const;

export type SpaState = 'loading' | 'logged-in' | 'logged-out';

/** Waits until the SPA has finished what it was doing (no call in flight, state known) and returns its state. */
export async function settled(page: Page): Promise<SpaState> {
  await page.waitForFunction(() => {
    const state = document.body?.dataset['state'];
    const button = (id: string) => document.getElementById(id) as HTMLButtonElement | null;
    // The SPA disables every button while a call is in flight; when idle, login or logout is enabled.
    return state !== undefined && state !== 'loading' && (button('login')?.disabled === false || button('logout')?.disabled === false);
  });
  return (await page.evaluate(() => document.body.dataset['state'])) as SpaState;
}

/** What the page helpers need of a stack: its URLs (the e2e stack's, or `npm start`'s own). */
export type Urls = { readonly urls: Pick<E2eStack['urls'], 'spa' | 'origin' | 'issuer'> };

export async function openSpa(page: Page, stack: Urls): Promise<SpaState> {
  await page.goto(stack.urls.spa);
  return settled(page);
}

export async function status(page: Page): Promise<string> {
  return (await page.locator('#status').textContent()) ?? '';
}

export async function claims(page: Page): Promise<Record<string, unknown>> {
  return JSON.parse((await page.locator('#claims').textContent()) ?? 'null') as Record<string, unknown>;
}

/** The error line the SPA shows, or undefined when it is hidden. */
export async function shownError(page: Page): Promise<string | undefined> {
  const error = page.locator('#error');
  return (await error.isVisible()) ? ((await error.textContent()) ?? '') : undefined;
}

/** The SPA's call log, newest last: e.g. "GET /api/whoami → 401". */
export async function callLog(page: Page): Promise<string[]> {
  const lines = await page.locator('#log .call').allTextContents();
  return lines.reverse().map((line) => line.replace(/\s+/g, ' ').trim());
}

/** Clicks "Log in" and waits for the provider's sign-in page (another site). */
export async function startLogin(page: Page, stack: Urls): Promise<void> {
  await page.bringToFront();
  await page.locator('#login').click();
  await page.waitForURL((url) => url.origin === stack.urls.issuer);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

/**
 * On the provider's pages: types the demo user's name and password, allows the consent if asked,
 * and waits until the browser is back on the SPA and the SPA has finished the login.
 */
export async function finishLoginAtProvider(page: Page, stack: Urls): Promise<SpaState> {
  // A background tab gets few animation frames, and clicks wait for them.
  await page.bringToFront();
  for (let pages = 0; pages < 6; pages++) {
    if (new URL(page.url()).origin === stack.urls.origin) return settled(page);
    const before = page.url();
    const heading = (await page.locator('h1').textContent()) ?? '';
    if (heading === 'Sign in') {
      await page.getByLabel('Username').fill(DEMO_USER.username);
      await page.getByLabel('Password').fill(DEMO_USER.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    } else if (heading === 'Authorize') {
      await page.getByRole('button', { name: 'Allow' }).click();
    } else {
      throw new Error(`Unexpected page at the provider: "${heading}" ${new URL(page.url()).pathname}`);
    }
    await page.waitForURL((url) => url.href !== before);
  }
  throw new Error('The login did not come back to the SPA');
}

/**
 * The whole login as a person does it; returns the state the SPA then shows. When the provider
 * still has a session for this browser it sends the browser straight back (no page of its own).
 */
export async function logIn(page: Page, stack: Urls): Promise<SpaState> {
  await page.locator('#login').click();
  await page.waitForURL((url) => url.origin === stack.urls.issuer || (url.origin === stack.urls.origin && url.searchParams.has('state')));
  return finishLoginAtProvider(page, stack);
}

/** Clicks "Call API" and returns what the SPA shows: the status and the JSON answer. */
export async function callApi(page: Page): Promise<{ status: number; body: Record<string, unknown> }> {
  const result = page.locator('#api-result');
  await page.bringToFront();
  await page.locator('#call-api').click();
  await settled(page);
  const text = (await result.textContent()) ?? '';
  const match = /^HTTP (\d{3})\n([\s\S]*)$/.exec(text);
  if (!match) throw new Error(`The SPA shows no API result: ${JSON.stringify(text)} (error: ${await shownError(page)})`);
  return { status: Number(match[1]), body: JSON.parse(match[2]!) as Record<string, unknown> };
}

/** The token handler's cookies in the browser's cookie store (name, value and every attribute). */
export async function tokenHandlerCookies(context: BrowserContext, stack: E2eStack): Promise<Cookie[]> {
  const all = await originCookies(context, stack);
  return all.filter((cookie) => isOwnCookieName(cookie.name, NAMES));
}

/** Every cookie the browser holds for the SPA's host, whatever its path. */
export async function originCookies(context: BrowserContext, stack: E2eStack): Promise<Cookie[]> {
  // context.cookies(url) would keep only the cookies a request to that URL's path carries.
  const { hostname } = new URL(stack.urls.origin);
  return (await context.cookies()).filter((cookie) => cookie.domain === hostname || cookie.domain === `.${hostname}`);
}

/** The refresh token sealed in the browser's `__Secure-th-rt` cookie, opened with the stack's current keys. */
export async function refreshTokenInBrowser(context: BrowserContext, stack: E2eStack): Promise<string> {
  const cookie = (await tokenHandlerCookies(context, stack)).find((c) => c.name === NAMES.rt);
  if (!cookie) throw new Error('The browser holds no refresh-token cookie');
  const { cookieKeys } = parseConfig({
    TH_PUBLIC_ORIGIN: stack.urls.origin,
    TH_ISSUER: stack.urls.issuer,
    TH_CLIENT_ID: stack.clientId,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
  });
  const opened = await createSealer(cookieKeys, Date.now).unseal<{ t: string }>('rt', cookie.value);
  if (!opened) throw new Error('The refresh-token cookie does not unseal with the stack’s keys');
  return opened.data.t;
}

/** Fails when any token, or any 16-character piece of one, occurs in `text`. */
export function expectNoToken(text: string, tokens: readonly string[], where: string): void {
  expect(tokens.length).toBeGreaterThan(0);
  for (const token of tokens) {
    expect(token.length).toBeGreaterThan(32);
    expect(text.includes(token), `a whole token is in ${where}`).toBe(false);
    for (let i = 0; i + 16 <= token.length; i += 16) {
      expect(text.includes(token.slice(i, i + 16)), `a piece of a token is in ${where}`).toBe(false);
    }
  }
}
