/**
 * The login transactions as pure rules, with a clock the test moves: one cookie per state, found
 * again only by its whole state, at most three kept (the oldest evicted, dead ones cleared), ten
 * minutes each.
 */
import { describe, expect, it } from 'vitest';
import { createSealer } from '../../../src/core/session/cookie-seal.js';
import { MAX_LOGIN_TRANSACTIONS, cookieNames, type SetCookie } from '../../../src/core/session/cookie-table.js';
import {
  LOGIN_TRANSACTION_LIFETIME,
  clearLoginTransactions,
  constantTimeEqual,
  findLoginTransaction,
  storeLoginTransaction,
  type LoginCookieSettings,
  type LoginTransaction,
} from '../../../src/core/session/login-transaction.js';
import { randomSecret } from '../../helpers/config.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

function setup() {
  const clock = { now: NOW };
  const settings: LoginCookieSettings = { names: cookieNames('th'), sealer: createSealer([{ id: 'k1', secret: randomSecret() }], () => clock.now), now: () => clock.now };
  const cookies = new Map<string, string[]>();
  const apply = (set: readonly SetCookie[]) => {
    for (const c of set) {
      if (c.maxAge > 0) cookies.set(c.name, [c.value]);
      else cookies.delete(c.name);
    }
  };
  return { clock, settings, cookies, apply };
}

const tx = (state: string): LoginTransaction => ({ s: state, n: `nonce-${state}`, v: `verifier-${state}`, i: 'https://idp.example.test' });
const state = (prefix: string) => prefix.padEnd(12, 'x') + 'S'.repeat(31);

describe('login transactions', () => {
  it('one cookie per login, named after its state, on / for ten minutes; found again by its state', async () => {
    const { settings, cookies, apply } = setup();
    const set = await storeLoginTransaction(settings, tx(state('tabA')), cookies);
    expect(set).toEqual([{ name: '__Host-th-login-tabAxxxxxxxx', value: expect.stringMatching(/^Fe26\.2\*k1\*/), path: '/', maxAge: LOGIN_TRANSACTION_LIFETIME }]);
    apply(set);
    apply(await storeLoginTransaction(settings, tx(state('tabB')), cookies));
    expect(await findLoginTransaction(settings, cookies, state('tabA'))).toEqual({ name: '__Host-th-login-tabAxxxxxxxx', tx: tx(state('tabA')) });
    expect(await findLoginTransaction(settings, cookies, state('tabB'))).toMatchObject({ tx: tx(state('tabB')) });
  });

  it('a state that shares only the cookie name’s prefix, or cannot name a cookie, finds nothing', async () => {
    const { settings, cookies, apply } = setup();
    apply(await storeLoginTransaction(settings, tx(state('tabA')), cookies));
    expect(await findLoginTransaction(settings, cookies, state('tabA').slice(0, -1) + 'T')).toBeUndefined();
    expect(await findLoginTransaction(settings, cookies, 'short')).toBeUndefined();
    expect(await findLoginTransaction(settings, cookies, state('tabZ'))).toBeUndefined();
  });

  it('expires after ten minutes', async () => {
    const { settings, cookies, apply, clock } = setup();
    apply(await storeLoginTransaction(settings, tx(state('tabA')), cookies));
    clock.now += (LOGIN_TRANSACTION_LIFETIME - 1) * 1000;
    expect(await findLoginTransaction(settings, cookies, state('tabA'))).toBeDefined();
    clock.now += 1000;
    expect(await findLoginTransaction(settings, cookies, state('tabA'))).toBeUndefined();
  });

  it(`keeps at most ${MAX_LOGIN_TRANSACTIONS}, evicting the oldest, and clears dead ones`, async () => {
    const { settings, cookies, apply, clock } = setup();
    for (const tab of ['tab1', 'tab2', 'tab3', 'tab4']) {
      apply(await storeLoginTransaction(settings, tx(state(tab)), cookies));
      clock.now += 1000;
    }
    expect([...cookies.keys()].sort()).toEqual(['__Host-th-login-tab2xxxxxxxx', '__Host-th-login-tab3xxxxxxxx', '__Host-th-login-tab4xxxxxxxx']);
    cookies.set('__Host-th-login-tab3xxxxxxxx', ['tampered']);
    const set = await storeLoginTransaction(settings, tx(state('tab5')), cookies);
    // The dead one goes first; with it gone, nothing live needs evicting.
    expect(set.filter((c) => c.maxAge === 0).map((c) => c.name)).toEqual(['__Host-th-login-tab3xxxxxxxx']);
    apply(set);
    expect([...cookies.keys()].sort()).toEqual(['__Host-th-login-tab2xxxxxxxx', '__Host-th-login-tab4xxxxxxxx', '__Host-th-login-tab5xxxxxxxx']);
  });

  it('clearLoginTransactions clears every one the browser sent, and nothing else', async () => {
    const { settings, cookies, apply } = setup();
    apply(await storeLoginTransaction(settings, tx(state('tabA')), cookies));
    apply(await storeLoginTransaction(settings, tx(state('tabB')), cookies));
    cookies.set('__Host-th-at', ['x']);
    expect(clearLoginTransactions(settings.names, cookies).map((c) => [c.name, c.maxAge])).toEqual([
      ['__Host-th-login-tabAxxxxxxxx', 0],
      ['__Host-th-login-tabBxxxxxxxx', 0],
    ]);
  });

  it('constantTimeEqual is plain equality', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'ab')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});
