/**
 * The session's cookies as pure rules, with a frozen clock: one id sealed into all three, what
 * counts as one session (contract §3, "One session, one id"), the stores of a login and of a
 * refresh, the cookie budget, and clearing.
 */
import { describe, expect, it } from 'vitest';
import { TokenHandlerError } from '../../../src/core/errors.js';
import { createSealer } from '../../../src/core/session/cookie-seal.js';
import { cookieNames, type SetCookie } from '../../../src/core/session/cookie-table.js';
import {
  MAX_SESSION_COOKIE_BYTES,
  accessTokenExpiry,
  clearSessionCookies,
  cookieHeaderBytes,
  newSessionId,
  readAccessTokenCookie,
  readSessionCookies,
  storeSessionCookies,
  type Cookies,
  type SessionCookieSettings,
  type SessionToStore,
} from '../../../src/core/session/session-cookies.js';
import { randomSecret } from '../../helpers/config.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const T = NOW / 1000;
const clock = { now: NOW };
const settings: SessionCookieSettings = {
  names: cookieNames('th'),
  agentPath: '/oauth-agent',
  sealer: createSealer([{ id: 'k1', secret: randomSecret() }], () => clock.now),
  now: () => clock.now,
};
const { at: AT, rt: RT, id: ID } = settings.names;

const session = (overrides: Partial<SessionToStore> = {}): SessionToStore => ({
  id: newSessionId(),
  end: T + 3600,
  tokens: { accessToken: 'access-1', accessTokenExpiresAt: T + 300, scope: 'openid', refreshToken: 'refresh-1' },
  identity: { c: { sub: 'alice', name: 'Alice' }, sub: 'alice' },
  ...overrides,
});

/** The browser's cookies after `set`, as the next request sends them. */
function jar(set: readonly SetCookie[], before: Cookies = new Map()): Cookies {
  const out = new Map(before);
  for (const c of set) {
    if (c.maxAge > 0) out.set(c.name, [c.value]);
    else out.delete(c.name);
  }
  return out;
}

const pick = (cookies: Cookies, ...names: string[]) => new Map([...cookies].filter(([n]) => names.includes(n)));

describe('newSessionId', () => {
  it('is 128 random bits in 22 base64url characters, new every time', () => {
    const ids = new Set(Array.from({ length: 200 }, newSessionId));
    expect(ids.size).toBe(200);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });
});

describe('storing a session', () => {
  it('seals the same id into the access-token, refresh-token and ID cookies, each until the session ends', async () => {
    const s = session();
    const set = await storeSessionCookies(settings, s, new Map(), 'login');
    expect(set.map((c) => [c.name, c.path, c.maxAge])).toEqual([
      [AT, '/', 3600],
      [RT, '/oauth-agent', 3600],
      [ID, '/oauth-agent', 3600],
    ]);
    const cookies = jar(set);
    const at = await settings.sealer.unseal('at', cookies.get(AT)![0]);
    const rt = await settings.sealer.unseal('rt', cookies.get(RT)![0]);
    const id = await settings.sealer.unseal('id', cookies.get(ID)![0]);
    expect(at).toEqual({ data: { sid: s.id, t: 'access-1', e: T + 300, s: 'openid' }, issuedAt: T, expiresAt: T + 3600 });
    expect(rt?.data).toEqual({ sid: s.id, t: 'refresh-1' });
    expect(id?.data).toEqual({ sid: s.id, c: { sub: 'alice', name: 'Alice' }, sub: 'alice' });
  });

  it('a login without a refresh token clears the one of an earlier session', async () => {
    const earlier = jar(await storeSessionCookies(settings, session(), new Map(), 'login'));
    const set = await storeSessionCookies(settings, session({ tokens: { accessToken: 'access-2' } }), earlier, 'login');
    expect(set.find((c) => c.name === RT)).toEqual({ name: RT, value: '', path: '/oauth-agent', maxAge: 0 });
    expect((await readSessionCookies(settings, jar(set, earlier))).kind).toBe('session');
  });

  it('a refresh without new refresh token or claims leaves those cookies, which share its id, in place', async () => {
    const s = session();
    const before = jar(await storeSessionCookies(settings, s, new Map(), 'login'));
    const set = await storeSessionCookies(settings, { id: s.id, end: s.end, tokens: { accessToken: 'access-2' } }, before, 'refresh');
    expect(set.map((c) => c.name)).toEqual([AT]);
    const read = await readSessionCookies(settings, jar(set, before));
    expect(read).toMatchObject({ kind: 'session', id: s.id, at: { data: { t: 'access-2' } }, rt: { data: { t: 'refresh-1' } }, identity: { sub: 'alice' } });
  });

  it('caps the access token’s expiry at the session’s end', () => {
    expect(accessTokenExpiry({ accessToken: 'a', accessTokenExpiresAt: T + 99_999 }, T + 3600)).toBe(T + 3600);
    expect(accessTokenExpiry({ accessToken: 'a', accessTokenExpiresAt: T + 60 }, T + 3600)).toBe(T + 60);
    expect(accessTokenExpiry({ accessToken: 'a' }, T + 3600)).toBeUndefined();
  });

  it(`refuses a session over ${MAX_SESSION_COOKIE_BYTES} bytes of cookies, counting what a refresh leaves in place`, async () => {
    const big = session({ tokens: { accessToken: 'a'.repeat(7000), refreshToken: 'r'.repeat(3000) }, identity: { c: { g: 'g'.repeat(1500) }, sub: 'alice' } });
    const stored = await storeSessionCookies(settings, big, new Map(), 'login');
    expect(cookieHeaderBytes(stored)).toBeLessThanOrEqual(MAX_SESSION_COOKIE_BYTES);
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => expect.unreachable('stored'),
        (e: unknown) => {
          expect(e).toBeInstanceOf(TokenHandlerError);
          expect(e).toMatchObject({ code: 'authorization_error', reason: 'session_too_large' });
        },
      );
    // The new access token alone fits; beside the refresh-token and ID cookies it keeps, it does not.
    const larger = { accessToken: 'a'.repeat(9000) };
    expect(cookieHeaderBytes(await storeSessionCookies(settings, { ...big, tokens: larger, identity: { c: {}, sub: 'alice' } }, new Map(), 'login'))).toBeLessThan(
      MAX_SESSION_COOKIE_BYTES,
    );
    await refused(storeSessionCookies(settings, { id: big.id, end: big.end, tokens: larger }, jar(stored), 'refresh'));
    await refused(storeSessionCookies(settings, session({ tokens: { accessToken: 'a'.repeat(12_000) } }), new Map(), 'login'));
  });
});

describe('reading a session: one session, one id', () => {
  async function two() {
    const a = session();
    const b = session();
    return { a, b, cookiesA: jar(await storeSessionCookies(settings, a, new Map(), 'login')), cookiesB: jar(await storeSessionCookies(settings, b, new Map(), 'login')) };
  }
  const mix = (...parts: [Cookies, string][]) => new Map(parts.map(([from, name]) => [name, from.get(name)!]));

  it('the three cookies of one session are that session', async () => {
    const { a, cookiesA } = await two();
    expect(await readSessionCookies(settings, cookiesA)).toMatchObject({ kind: 'session', id: a.id, rt: { data: { t: 'refresh-1' } }, identity: { sub: 'alice' } });
    expect(await readSessionCookies(settings, pick(cookiesA, AT))).toMatchObject({ kind: 'session', id: a.id });
    expect(await readAccessTokenCookie(settings, cookiesA)).toMatchObject({ data: { sid: a.id, t: 'access-1' } });
  });

  it('refresh-token or ID cookies without the access-token cookie are orphans', async () => {
    const { cookiesA } = await two();
    for (const names of [[RT, ID], [RT], [ID]]) {
      expect(await readSessionCookies(settings, pick(cookiesA, ...names))).toEqual({ kind: 'rejected', reason: 'session_cookies_orphaned' });
    }
    // An access-token cookie that does not open is no anchor either.
    const tampered = new Map([...cookiesA, [AT, ['Fe26.2*k1**garbage']]]);
    expect(await readSessionCookies(settings, tampered)).toEqual({ kind: 'rejected', reason: 'session_cookies_orphaned' });
  });

  it('cookies of two sessions are none: every mix', async () => {
    const { cookiesA, cookiesB } = await two();
    for (const mixed of [
      mix([cookiesB, AT], [cookiesA, RT], [cookiesA, ID]),
      mix([cookiesA, AT], [cookiesA, RT], [cookiesB, ID]),
      mix([cookiesA, AT], [cookiesB, RT], [cookiesA, ID]),
      mix([cookiesA, AT], [cookiesB, RT]),
      mix([cookiesA, AT], [cookiesB, ID]),
    ]) {
      expect(await readSessionCookies(settings, mixed)).toEqual({ kind: 'rejected', reason: 'session_ids_differ' });
    }
  });

  it('judges the session ids on every read, when every cookie already opened from the sealer\'s cache', async () => {
    const { cookiesA, cookiesB } = await two();
    // Each session read whole once: all six values are now cached, opened and valid.
    expect(await readSessionCookies(settings, cookiesA)).toMatchObject({ kind: 'session' });
    expect(await readSessionCookies(settings, cookiesB)).toMatchObject({ kind: 'session' });
    const before = settings.sealer.cached.entries;
    expect(await readSessionCookies(settings, mix([cookiesA, AT], [cookiesB, RT], [cookiesA, ID]))).toEqual({ kind: 'rejected', reason: 'session_ids_differ' });
    expect(settings.sealer.cached.entries).toBe(before);
  });

  it('cookies sealed before sessions had ids are rejected, and the proxy refuses such an access token', async () => {
    const oldAt = await settings.sealer.seal('at', { t: 'access-1', e: T + 300 }, T + 3600);
    const oldRt = await settings.sealer.seal('rt', { t: 'refresh-1' }, T + 3600);
    const oldId = await settings.sealer.seal('id', { c: { sub: 'alice' }, sub: 'alice' }, T + 3600);
    const old = new Map([[AT, [oldAt]], [RT, [oldRt]], [ID, [oldId]]]);
    expect(await readSessionCookies(settings, old)).toEqual({ kind: 'rejected', reason: 'session_format_old' });
    expect(await readSessionCookies(settings, pick(old, AT))).toEqual({ kind: 'rejected', reason: 'session_format_old' });
    expect(await readAccessTokenCookie(settings, old)).toBeUndefined();
    // An id that is not one (wrong length, not a string) is no id.
    for (const sid of ['short', 'x'.repeat(23), 42, null]) {
      const odd = new Map([[AT, [await settings.sealer.seal('at', { sid, t: 'access-1' }, T + 3600)]]]);
      expect(await readSessionCookies(settings, odd)).toEqual({ kind: 'rejected', reason: 'session_format_old' });
      expect(await readAccessTokenCookie(settings, odd)).toBeUndefined();
    }
    // Beside a current access-token cookie, old refresh-token and ID cookies are another session's.
    const { cookiesA } = await two();
    expect(await readSessionCookies(settings, new Map([[AT, cookiesA.get(AT)!], [RT, [oldRt]]]))).toEqual({ kind: 'rejected', reason: 'session_ids_differ' });
  });

  it('nothing, or nothing that opens, is none; past the session’s end everything is none', async () => {
    expect(await readSessionCookies(settings, new Map())).toEqual({ kind: 'none' });
    expect(await readSessionCookies(settings, new Map([[AT, ['x']], [RT, ['y']], ['other', ['z']]]))).toEqual({ kind: 'none' });
    const { cookiesA } = await two();
    clock.now = NOW + 3600_000;
    try {
      expect(await readSessionCookies(settings, cookiesA)).toEqual({ kind: 'none' });
      expect(await readAccessTokenCookie(settings, cookiesA)).toBeUndefined();
    } finally {
      clock.now = NOW;
    }
  });
});

describe('clearing', () => {
  it('clears the three cookies and every chunk the browser sent, on their own paths', () => {
    const cookies: Cookies = new Map([[`${AT}.0`, ['a']], [`${AT}.1`, ['b']], [RT, ['c']], ['other', ['d']]]);
    expect(clearSessionCookies(settings, cookies)).toEqual([
      { name: AT, value: '', path: '/', maxAge: 0 },
      { name: `${AT}.0`, value: '', path: '/', maxAge: 0 },
      { name: `${AT}.1`, value: '', path: '/', maxAge: 0 },
      { name: RT, value: '', path: '/oauth-agent', maxAge: 0 },
      { name: ID, value: '', path: '/oauth-agent', maxAge: 0 },
    ]);
  });
});
