/**
 * Cookie names (contract §3, last bullet; issue 11, finding 2): reading is exact, only space and tab
 * are trimmed, and a name outside the RFC 6265 token set is ignored, never normalised into ours; for
 * keeping our cookies away from upstreams (and upstream Set-Cookie away from the browser), look-alikes
 * count as ours.
 */
import { describe, expect, it } from 'vitest';
import { cookieNames, isOwnCookieName, parseCookieHeader, readCookieValue, stripOwnCookies } from '../../../src/core/session/cookie-table.js';

const names = cookieNames('th');

/** Characters `.trim()` strips (or that render as nothing) but RFC 6265 does not count as whitespace. */
const LOOKALIKE_PADDING: [string, string][] = [
  ['U+2000 en quad', '\u2000'],
  ['U+200A hair space', '\u200a'],
  ['U+FEFF byte order mark', '\ufeff'],
  ['U+00A0 no-break space', '\u00a0'],
  ['U+3000 ideographic space', '\u3000'],
  ['U+2028 line separator', '\u2028'],
  ['U+205F medium mathematical space', '\u205f'],
  ['U+1680 ogham space', '\u1680'],
  ['vertical tab', '\u000b'],
  ['form feed', '\u000c'],
  ['U+200B zero-width space', '\u200b'],
  ['U+200C zero-width non-joiner', '\u200c'],
  ['U+200D zero-width joiner', '\u200d'],
  ['U+2060 word joiner', '\u2060'],
  ['U+180E Mongolian vowel separator', '\u180e'],
  ['U+0085 next line', '\u0085'],
  ['raw 0xA0 read as Latin-1 (Node)', '\u00a0'],
  ['U+00A0 as UTF-8 read as Latin-1 (Lambda@Edge)', '\u00c2\u00a0'],
  ['U+2000 as UTF-8 read as Latin-1', '\u00e2\u0080\u0080'],
];

describe('reading a Cookie header: exact names only', () => {
  it.each(LOOKALIKE_PADDING)('never reads a name padded with %s as ours, before or after it', (_label, pad) => {
    for (const name of [`${pad}${names.at}`, `${names.at}${pad}`, `${pad}${names.at}${pad}`, `${pad}${names.rt}`, `${pad}${names.id}.0`]) {
      const cookies = parseCookieHeader(`a=1; ${name}=sealed; b=2`);
      expect([...cookies.keys()], JSON.stringify(name)).toEqual(['a', 'b']);
    }
    expect(readCookieValue(parseCookieHeader(`${pad}${names.at}=sealed`), names.at)).toBeUndefined();
  });

  it('does not let a look-alike spoil the genuine cookie beside it (no false duplicate)', () => {
    const cookies = parseCookieHeader(`\u2000${names.at}=planted; ${names.at}=genuine; \ufeff${names.at}=planted`);
    expect(readCookieValue(cookies, names.at)).toBe('genuine');
  });

  it('trims space and tab around names and values, nothing else', () => {
    const cookies = parseCookieHeader(` \t${names.at}\t =\t v \t; x=\u00a0y\u00a0`);
    expect(readCookieValue(cookies, names.at)).toBe('v');
    expect(cookies.get('x')).toEqual(['\u00a0y\u00a0']);
  });

  it.each(['a b', 'a,b', 'a"b', 'a(b', 'a/b', 'a:b', 'a@b', 'a[b', 'a\\b', 'a{b', 'a?b', 'caf\u00e9', '\u00e9', 'a\u0000b', 'a\u007fb'])(
    'ignores a name outside the token set: %j',
    (name) => {
      expect(parseCookieHeader(`${name}=1; ok=2`).has(name)).toBe(false);
      expect(parseCookieHeader(`${name}=1; ok=2`).get('ok')).toEqual(['2']);
    },
  );

  it("keeps every token character a name may hold (RFC 9110's tchar)", () => {
    const name = "!#$%&'*+-.^_`|~09AZaz";
    expect(parseCookieHeader(`${name}=1`).get(name)).toEqual(['1']);
  });

  it.each(['__HOST-th-at', '__host-th-at', '__Host-TH-AT', '__hOsT-th-at'])('reads no case variant of our name: %s', (name) => {
    expect(readCookieValue(parseCookieHeader(`${name}=sealed`), names.at)).toBeUndefined();
  });
});

describe('our cookies as the proxy strips and filters them: look-alikes too', () => {
  it.each(LOOKALIKE_PADDING)('counts a name padded with %s as ours', (_label, pad) => {
    for (const name of [`${pad}${names.at}`, `${names.at}${pad}`, `${pad}${names.rt}.1`, `${names.id}.${pad}2`, `${pad}${names.login}AbCdEfGhIjKl`]) {
      expect(isOwnCookieName(name, names), JSON.stringify(name)).toBe(true);
    }
  });

  it.each(['__HOST-th-at', '__host-TH-at.0', '__SECURE-TH-RT', '__Secure-th-ID.4', '__HOST-TH-LOGIN-x'])('counts a case variant as ours: %s', (name) => {
    expect(isOwnCookieName(name, names)).toBe(true);
  });

  it('counts full-width and other compatibility forms as ours (NFKC): full-width letters, long s, the Kelvin sign', () => {
    expect(isOwnCookieName('\uff3f\uff3fＨｏｓｔ－ｔｈ－ａｔ', names)).toBe(true);
    expect(isOwnCookieName('__\u017fecure-th-rt', names)).toBe(true);
    expect(isOwnCookieName('__Host-\u212av-at', cookieNames('kv'))).toBe(true);
  });

  it('leaves names that are merely similar alone', () => {
    for (const name of ['__Host-th-atx', '__Host-th-at-other', 'x__Host-th-at', '__Host-th-a', '__Host-th-logins', 'theme', 'a\u2000b']) {
      expect(isOwnCookieName(name, names), name).toBe(false);
    }
  });

  it('strips look-alikes from the upstream Cookie and keeps the others byte for byte', () => {
    const header = `a=1; \u2000${names.at}=x; \ufeff${names.rt}.0=y; ${names.at}\u200b=z; \u00a0b=2; __HOST-th-at=w; c=\u65e5\u672c`;
    expect(stripOwnCookies(header, names)).toBe('a=1; \u00a0b=2; c=\u65e5\u672c');
  });

  it('finds a look-alike in a second Cookie line joined with ", "', () => {
    expect(stripOwnCookies(`a=1, \u2000${names.at}=x; b=2, \u200b${names.id}=y`, names)).toBe('a=1; b=2');
  });
});

describe('cookieNames', () => {
  it('precomputes the lower-cased names it is matched by, and is frozen', () => {
    expect([...names.lowerAll]).toEqual(['__host-th-at', '__secure-th-rt', '__secure-th-id']);
    expect(names.lowerLogin).toBe('__host-th-login-');
    expect(Object.isFrozen(names)).toBe(true);
    const other = cookieNames('App');
    expect(isOwnCookieName('__host-app-at', other)).toBe(true);
    expect(isOwnCookieName('__host-th-at', other)).toBe(false);
  });
});
