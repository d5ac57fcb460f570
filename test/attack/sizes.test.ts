/**
 * Sizes: realistic large tokens are chunked and work end to end; a session too large for the
 * platforms' header budgets is refused at login with an error naming the cause; request bodies
 * and headers past sane limits are refused before anything parses them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_SESSION_COOKIE_BYTES } from '../../src/core/agent/agent.js';
import { MAX_COOKIE_NAME_VALUE } from '../../src/core/session/cookie-table.js';
import { MAX_COOKIE_HEADER_BYTES, MAX_HEADER_BYTES } from '../../src/app/create-token-handler.js';
import { PUBLIC_ORIGIN } from '../helpers/spa-client.js';
import { startHostileProvider, type HostileProvider } from './hostile-provider.js';
import {
  CLIENT_ID,
  REDIRECT_URI,
  attackApp,
  cookieKeysFor,
  createRecorder,
  expectContractError,
  hostileLogin,
  lastRejection,
  sessionCookiesSet,
  spaFor,
  sweepForLeaks,
} from './harness.js';

const recorder = createRecorder();
const cookieKeys = cookieKeysFor(recorder);
let provider: HostileProvider;

beforeAll(async () => {
  provider = await startHostileProvider({ clientId: CLIENT_ID, redirectUri: REDIRECT_URI });
});
afterAll(async () => {
  await provider?.close();
});
beforeEach(() => provider.reset());

const newApp = () => attackApp(provider, recorder, cookieKeys);
const bearer = () => provider.upstream.at(-1)!.headers['authorization']!;

/** 200 groups' worth of claims, as an Entra ID token with many groups would carry. */
const groups = Array.from({ length: 40 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

describe('large tokens', () => {
  it('an 8 KB access token is chunked and works end to end: login, API, refresh, logout', async () => {
    const spa = spaFor(newApp(), recorder);
    provider.mutators = { accessTokenLength: 8192, idToken: (c) => void (c['groups'] = groups) };
    const login = await hostileLogin(spa);
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.body['id_token_claims']).toMatchObject({ sub: 'alice', groups });

    const chunks = [...spa.cookies.keys()].filter((n) => n.startsWith('__Host-th-at.')).sort();
    expect(chunks).toEqual(['__Host-th-at.0', '__Host-th-at.1', '__Host-th-at.2']);
    expect(spa.cookies.has('__Host-th-at')).toBe(false);
    for (const line of login.response.headers.getSetCookie()) expect(line.split(';')[0]!.length).toBeLessThanOrEqual(MAX_COOKIE_NAME_VALUE);
    // The whole session, as the browser sends it to the agent, fits the budget.
    expect(spa.cookieHeader('/oauth-agent/refresh').length).toBeLessThanOrEqual(MAX_SESSION_COOKIE_BYTES);

    // The API gets the whole token, exactly as the provider issued it.
    expect((await spa.json('GET', '/api/orders?page=2')).status).toBe(200);
    const first = bearer().slice('Bearer '.length);
    expect(first).toHaveLength(8192);
    expect(provider.secrets.has(first)).toBe(true);
    expect(provider.upstream.at(-1)!.headers['cookie']).toBeUndefined();

    // Refresh: a new 8 KB token replaces the old one, chunk for chunk.
    const refreshed = await spa.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status).toBe(200);
    await spa.json('GET', '/api/orders');
    const second = bearer().slice('Bearer '.length);
    expect(second).toHaveLength(8192);
    expect(second).not.toBe(first);

    // A refresh that brings a small token again: the stale chunks are cleared, the whole cookie used.
    provider.mutators = {};
    const shrunk = await spa.json('POST', '/oauth-agent/refresh');
    const cleared = shrunk.response.headers.getSetCookie().filter((l) => /^__Host-th-at\.\d=;.*Max-Age=0/.test(l));
    expect(cleared).toHaveLength(3);
    expect([...spa.cookies.keys()].filter((n) => n.startsWith('__Host-th-at'))).toEqual(['__Host-th-at']);
    await spa.json('GET', '/api/orders');
    expect(bearer().slice('Bearer '.length)).toHaveLength(43);

    const logout = await spa.json('POST', '/oauth-agent/logout');
    expect(logout.status).toBe(200);
    expect(spa.cookies.size).toBe(0);
  });

  it('logout clears every chunk the browser holds', async () => {
    const spa = spaFor(newApp(), recorder);
    provider.mutators = { accessTokenLength: 6000, refreshTokenLength: 3500 };
    expect((await hostileLogin(spa)).status).toBe(200);
    expect([...spa.cookies.keys()].filter((n) => /\.\d$/.test(n)).length).toBeGreaterThanOrEqual(5);
    await spa.json('POST', '/oauth-agent/logout');
    expect(spa.cookies.size).toBe(0);
  });
});

describe('a session too large for the header budget is refused at login, with the cause named', () => {
  async function refusedLogin(mutators: HostileProvider['mutators']) {
    const spa = spaFor(newApp(), recorder);
    provider.mutators = mutators;
    const answer = await hostileLogin(spa);
    expectContractError(answer, 400, 'authorization_error');
    expect(String(answer.body['detailed_error'])).toMatch(/too large to keep in cookies.*16384 bytes/);
    expect(sessionCookiesSet(answer.response)).toEqual([]);
    expect(answer.response.headers.getSetCookie().some((l) => /^__Host-th-login-[A-Za-z0-9_-]{12}=;.*Max-Age=0/.test(l))).toBe(true);
    expect(lastRejection(recorder)?.['reason']).toBe('session_too_large');
    expect((await spa.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
    return spa;
  }

  it('a 14 KB access token', async () => {
    await refusedLogin({ accessTokenLength: 14 * 1024 });
  });

  it('tokens that each fit in their cookies but together pass the budget', async () => {
    // About 11 KB + 5.5 KB + 2 KB of cookies: no single cookie needs more than its chunks, the sum does.
    await refusedLogin({ accessTokenLength: 8000, refreshTokenLength: 4000, idToken: (c) => void (c['groups'] = [...groups, ...groups, ...groups]) });
  });

  it('a refresh that would pass the budget is refused, and the session stays as it was', async () => {
    const spa = spaFor(newApp(), recorder);
    expect((await hostileLogin(spa)).status).toBe(200);
    const before = new Map([...spa.cookies].map(([k, v]) => [k, v.value]));
    provider.mutators = { accessTokenLength: 14 * 1024 };
    const answer = await spa.json('POST', '/oauth-agent/refresh');
    expectContractError(answer, 400, 'authorization_error');
    expect(sessionCookiesSet(answer.response)).toEqual([]);
    expect(new Map([...spa.cookies].map(([k, v]) => [k, v.value]))).toEqual(before);
  });
});

describe('request bodies and headers past sane limits are refused early', () => {
  const post = (headers: Record<string, string>, body?: BodyInit) =>
    newApp().request(`${PUBLIC_ORIGIN}/oauth-agent/login/end`, {
      method: 'POST',
      headers: { 'token-handler-version': '1', origin: PUBLIC_ORIGIN, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      ...(body !== undefined ? { body, duplex: 'half' } : {}),
    } as RequestInit);
  const answer = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown>, response });

  it('a body declared over 64 KB: 413 before reading it', async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x61));
        if (pulled > 100) controller.close();
      },
    });
    const res = await answer(await post({ 'content-length': String(2 * 1024 * 1024) }, stream));
    expectContractError(res, 413, 'request_too_large');
    expect(pulled).toBeLessThan(3);
  });

  it('a streamed body without a length that passes 64 KB: 413, read no further', async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x61));
        if (pulled > 1000) controller.close();
      },
    });
    const res = await answer(await post({}, stream));
    expectContractError(res, 413, 'request_too_large');
    expect(pulled).toBeLessThan(10);
  });

  it(`a Cookie header over ${MAX_COOKIE_HEADER_BYTES} bytes: 431, on every path`, async () => {
    const cookie = Array.from({ length: 20 }, (_, i) => `junk${i}=${'x'.repeat(1700)}`).join('; ');
    expect(cookie.length).toBeGreaterThan(MAX_COOKIE_HEADER_BYTES);
    const app = newApp();
    for (const path of ['/oauth-agent/session', '/api/orders', '/oauth-agent/login/end']) {
      const res = await answer(await app.request(PUBLIC_ORIGIN + path, { method: path.endsWith('end') ? 'POST' : 'GET', headers: { cookie, 'token-handler-version': '1' } }));
      expectContractError(res, 431, 'request_header_too_large');
    }
    expect(provider.upstream.some((r) => r.path === '/api/orders' && r.headers['cookie']?.includes('junk19'))).toBe(false);
    expect(lastRejection(recorder)?.['reason']).toBe('cookie_header_too_large');
  });

  it(`headers over ${MAX_HEADER_BYTES} bytes in all: 431`, async () => {
    const headers = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-filler-${i}`, 'y'.repeat(1000)]));
    const res = await answer(await newApp().request(`${PUBLIC_ORIGIN}/oauth-agent/session`, { headers }));
    expectContractError(res, 431, 'request_header_too_large');
    expect(lastRejection(recorder)?.['reason']).toBe('headers_too_large');
  });

  it('a large Cookie header of foreign cookies under the limit is simply no session', async () => {
    const cookie = Array.from({ length: 10 }, (_, i) => `analytics${i}=${'z'.repeat(2000)}`).join('; ');
    const res = await newApp().request(`${PUBLIC_ORIGIN}/oauth-agent/session`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ is_logged_in: false });
  });
});

describe('the log', () => {
  it('holds no token, code, secret or cookie value, and no answer does either', () => {
    sweepForLeaks(recorder, [provider]);
  });
});
