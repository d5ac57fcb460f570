import { describe, expect, it } from 'vitest';
import {
  MAX_CHUNKS,
  CookieTooLargeError,
  cookieNames,
  cookiesToClear,
  cookiesToStore,
  parseCookieHeader,
  readCookieValue,
  serializeSetCookie,
  stripOwnCookies,
  isOwnCookieName,
  loginCookieName,
  presentLoginNames,
} from '../../../src/core/session/cookie-table.js';

const names = cookieNames('th');

describe('cookie names', () => {
  it('follow the contract table', () => {
    expect(names.at).toBe('__Host-th-at');
    expect(names.rt).toBe('__Secure-th-rt');
    expect(names.id).toBe('__Secure-th-id');
    expect(names.login).toBe('__Host-th-login-');
  });

  it('name each login transaction after its state, and count every login cookie as ours', () => {
    const state = 'AbCdEfGhIjKl_mnopqrstuvwxyz0123456789-ABCDE';
    expect(loginCookieName(names, state)).toBe('__Host-th-login-AbCdEfGhIjKl');
    expect(loginCookieName(names, 'short')).toBeUndefined();
    expect(loginCookieName(names, 'AbCdEf;h=jKlmnop')).toBeUndefined();
    expect(isOwnCookieName('__Host-th-login-AbCdEfGhIjKl', names)).toBe(true);
    expect(isOwnCookieName('__HOST-TH-LOGIN-whatever.1', names)).toBe(true);
    expect(isOwnCookieName('__Host-th-logins', names)).toBe(false);
    expect(presentLoginNames(parseCookieHeader('__Host-th-login-AbCdEfGhIjKl=1; __Host-th-login-x=2; a=3'), names)).toEqual(['__Host-th-login-AbCdEfGhIjKl']);
  });
});

describe('serializeSetCookie', () => {
  it('is always Secure, HttpOnly, SameSite=Strict, without Domain', () => {
    const line = serializeSetCookie({ name: '__Host-th-at', value: 'v', path: '/', maxAge: 100 });
    expect(line).toBe('__Host-th-at=v; Path=/; Max-Age=100; Secure; HttpOnly; SameSite=Strict');
    const cleared = serializeSetCookie({ name: '__Secure-th-rt', value: '', path: '/oauth-agent', maxAge: 0 });
    expect(cleared).toContain('Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    expect(cleared.toLowerCase()).not.toContain('domain');
  });
});

describe('chunking', () => {
  it('keeps a small value whole and clears stale chunks', () => {
    const present = parseCookieHeader('__Host-th-at.0=a; __Host-th-at.1=b');
    const out = cookiesToStore({ name: names.at, path: '/' }, 'small', 60, present);
    expect(out).toEqual([
      { name: '__Host-th-at', value: 'small', path: '/', maxAge: 60 },
      { name: '__Host-th-at.0', value: '', path: '/', maxAge: 0 },
      { name: '__Host-th-at.1', value: '', path: '/', maxAge: 0 },
    ]);
  });

  it('splits a large value into chunks under the browser limit and joins them on read', () => {
    const value = 'x'.repeat(9000);
    const out = cookiesToStore({ name: names.at, path: '/' }, value, 60, new Map());
    expect(out.map((c) => c.name)).toEqual(['__Host-th-at.0', '__Host-th-at.1', '__Host-th-at.2']);
    for (const c of out) expect(c.name.length + 1 + c.value.length).toBeLessThanOrEqual(4000);
    const header = out.map((c) => `${c.name}=${c.value}`).join('; ');
    expect(readCookieValue(parseCookieHeader(header), names.at)).toBe(value);
  });

  it('refuses a value that would need too many chunks', () => {
    expect(() => cookiesToStore({ name: names.at, path: '/' }, 'x'.repeat(4000 * MAX_CHUNKS), 60, new Map())).toThrow(CookieTooLargeError);
  });

  it('treats a duplicated name as absent (cookie tossing)', () => {
    expect(readCookieValue(parseCookieHeader('__Host-th-at=a; __Host-th-at=b'), names.at)).toBeUndefined();
    expect(readCookieValue(parseCookieHeader('__Host-th-at.0=a; __Host-th-at.0=b'), names.at)).toBeUndefined();
  });

  it('does not mix a whole value with chunks', () => {
    expect(readCookieValue(parseCookieHeader('__Host-th-at=a; __Host-th-at.0=b'), names.at)).toBeUndefined();
  });

  it('stops at a gap, so a missing chunk gives a value that will not unseal', () => {
    expect(readCookieValue(parseCookieHeader('__Host-th-at.0=a; __Host-th-at.2=c'), names.at)).toBe('a');
  });

  it('ignores look-alike names in another case', () => {
    expect(readCookieValue(parseCookieHeader('__host-th-at=a'), names.at)).toBeUndefined();
  });

  it('clears the value and every chunk present', () => {
    const out = cookiesToClear({ name: names.rt, path: '/oauth-agent' }, parseCookieHeader('__Secure-th-rt.0=a; __Secure-th-rt.1=b; other=1'));
    expect(out.map((c) => c.name).sort()).toEqual(['__Secure-th-rt', '__Secure-th-rt.0', '__Secure-th-rt.1']);
    expect(out.every((c) => c.maxAge === 0 && c.path === '/oauth-agent')).toBe(true);
  });
});

describe('stripOwnCookies', () => {
  it('removes every chunk of our cookies in any case and keeps the rest', () => {
    const header = 'a=1; __Host-th-at=x; __HOST-TH-AT.1=y; __Secure-th-rt.0=z; __Host-th-login-2=w; b=2';
    expect(stripOwnCookies(header, names)).toBe('a=1; b=2');
  });
  it('returns undefined when nothing is left', () => {
    expect(stripOwnCookies('__Host-th-at=x', names)).toBeUndefined();
    expect(stripOwnCookies(undefined, names)).toBeUndefined();
  });
});
