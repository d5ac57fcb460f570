/**
 * Contract §3, "One session, one id" (issue 11, finding 1), as cases any platform can run: a
 * sibling subdomain can plant `__Secure-` cookies (the refresh-token and ID cookies), never
 * `__Host-` ones (the access-token cookie). Every mix of cookies that is not one session must be no
 * session at all, and be cleared; the genuine session keeps working, and keeps its id on refresh.
 *
 * Registered by test/app/session-binding.test.ts (Node, and workerd as a shared suite) and by
 * test/runtime/lambda-edge/session-binding.test.ts (the built handler with CloudFront events).
 */
import { describe, expect, it } from 'vitest';
import type { Sealer, SealPurpose } from '../../src/core/session/cookie-seal.js';

export interface Jar {
  value: string;
  path: string;
}

/** A browser of the SPA on one platform: its cookie jar, and requests that store what comes back. */
export interface BindingClient {
  readonly cookies: Map<string, Jar>;
  /** The whole login; the status of login/end. */
  login(): Promise<number>;
  call(method: 'GET' | 'POST', path: string): Promise<{ status: number; body: Record<string, unknown>; setCookies: string[] }>;
}

export interface BindingPlatform {
  newClient(): BindingClient;
  /** A sealer with the platform's cookie keys, to read ids and to seal cookies the old way. */
  readonly sealer: Sealer;
}

const AT = '__Host-th-at';
const RT = '__Secure-th-rt';
const ID = '__Secure-th-id';
const PURPOSE: Record<string, SealPurpose> = { [AT]: 'at', [RT]: 'rt', [ID]: 'id' };

export function describeSessionBinding(platform: () => BindingPlatform): void {
  async function loggedIn(): Promise<BindingClient> {
    const client = platform().newClient();
    expect(await client.login()).toBe(200);
    for (const name of [AT, RT, ID]) expect(client.cookies.has(name), name).toBe(true);
    return client;
  }

  /** The session id sealed into a cookie of the jar. */
  async function idIn(client: BindingClient, name: string): Promise<unknown> {
    const opened = await platform().sealer.unseal<{ sid?: unknown }>(PURPOSE[name]!, client.cookies.get(name)?.value);
    expect(opened, `${name} unseals`).toBeDefined();
    return opened!.data.sid;
  }

  /** A fresh browser holding exactly these cookies (as a sibling subdomain would plant them). */
  function holding(cookies: Record<string, Jar | undefined>): BindingClient {
    const client = platform().newClient();
    for (const [name, cookie] of Object.entries(cookies)) if (cookie) client.cookies.set(name, { ...cookie });
    return client;
  }

  const clearsTokenCookies = (setCookies: string[]) => {
    for (const name of [AT, RT, ID]) expect(setCookies.some((c) => c.startsWith(`${name}=;`) && /Max-Age=0/.test(c)), `${name} cleared`).toBe(true);
  };
  const setsNoToken = (setCookies: string[]) => expect(setCookies.filter((c) => /^__(Host|Secure)-th-(at|rt|id)(\.\d+)?=[^;]/.test(c))).toEqual([]);

  /** Everything the contract says of cookies that are no session. */
  async function expectNoSession(make: () => BindingClient): Promise<void> {
    const session = await make().call('GET', '/oauth-agent/session');
    expect(session.status).toBe(200);
    expect(session.body).toEqual({ is_logged_in: false });
    clearsTokenCookies(session.setCookies);

    const pageLoad = await make().call('POST', '/oauth-agent/login/end');
    expect(pageLoad.status).toBe(200);
    expect(pageLoad.body).toEqual({ is_logged_in: false });
    clearsTokenCookies(pageLoad.setCookies);

    const refresh = await make().call('POST', '/oauth-agent/refresh');
    expect(refresh.status).toBe(401);
    expect(refresh.body['error_code']).toBe('session_expired');
    clearsTokenCookies(refresh.setCookies);
    setsNoToken(refresh.setCookies);

    // And the browser is left with no session cookie at all.
    const client = make();
    await client.call('GET', '/oauth-agent/session');
    expect([...client.cookies.keys()].filter((n) => /^__(Host|Secure)-th-(at|rt|id)/.test(n))).toEqual([]);
  }

  describe('one session, one id (contract §3)', () => {
    it('the genuine session works: login, session, API, refresh keeps the id, a new login makes a new one', async () => {
      const client = await loggedIn();
      const id = await idIn(client, AT);
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(await idIn(client, RT)).toBe(id);
      expect(await idIn(client, ID)).toBe(id);

      const session = await client.call('GET', '/oauth-agent/session');
      expect(session.body).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo' } });
      expect(session.setCookies).toEqual([]);
      // The same body; the countdown may have crossed a second between the two calls.
      const pageLoad = (await client.call('POST', '/oauth-agent/login/end')).body as Record<string, unknown>;
      expect({ ...pageLoad, access_token_expires_in: undefined }).toEqual({ ...(session.body as Record<string, unknown>), access_token_expires_in: undefined });
      expect((await client.call('GET', '/api/whoami')).status).toBe(200);

      const before = client.cookies.get(AT)!.value;
      const refreshed = await client.call('POST', '/oauth-agent/refresh');
      expect(refreshed.status).toBe(200);
      expect(client.cookies.get(AT)!.value).not.toBe(before);
      expect(await idIn(client, AT)).toBe(id);
      expect(await idIn(client, RT)).toBe(id);
      expect((await client.call('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
      expect((await client.call('GET', '/api/whoami')).status).toBe(200);
      expect((await client.call('POST', '/oauth-agent/refresh')).status).toBe(200);

      expect(await client.login()).toBe(200);
      expect(await idIn(client, AT)).not.toBe(id);
      expect(await idIn(client, RT)).toBe(await idIn(client, AT));
    });

    it('planted refresh-token and ID cookies alone are no session, and mint no access token', async () => {
      const other = await loggedIn();
      await expectNoSession(() => holding({ [RT]: other.cookies.get(RT), [ID]: other.cookies.get(ID) }));
      const client = holding({ [RT]: other.cookies.get(RT), [ID]: other.cookies.get(ID) });
      await client.call('POST', '/oauth-agent/refresh');
      expect((await client.call('GET', '/api/whoami')).status).toBe(401);
    });

    it('a planted refresh-token cookie alone is no session', async () => {
      const other = await loggedIn();
      await expectNoSession(() => holding({ [RT]: other.cookies.get(RT) }));
    });

    it('a planted ID cookie alone is no session', async () => {
      const other = await loggedIn();
      await expectNoSession(() => holding({ [ID]: other.cookies.get(ID) }));
    });

    it('an access-token cookie of another session beside this one’s refresh-token and ID cookies is no session', async () => {
      const mine = await loggedIn();
      const other = await loggedIn();
      await expectNoSession(() => holding({ [AT]: other.cookies.get(AT), [RT]: mine.cookies.get(RT), [ID]: mine.cookies.get(ID) }));
    });

    it('ids that differ between the cookies are no session: a planted ID cookie, a planted refresh-token cookie', async () => {
      const mine = await loggedIn();
      const other = await loggedIn();
      // Claims of another session shown as this one's.
      await expectNoSession(() => holding({ [AT]: mine.cookies.get(AT), [RT]: mine.cookies.get(RT), [ID]: other.cookies.get(ID) }));
      // Another session's grant refreshed into this one.
      await expectNoSession(() => holding({ [AT]: mine.cookies.get(AT), [RT]: other.cookies.get(RT), [ID]: mine.cookies.get(ID) }));
      await expectNoSession(() => holding({ [AT]: mine.cookies.get(AT), [RT]: other.cookies.get(RT) }));
    });

    it('cookies sealed before sessions had ids are no session, cleared, and refused by the proxy: never an error', async () => {
      const client = await loggedIn();
      const { sealer } = platform();
      const old: Record<string, Jar> = {};
      for (const name of [AT, RT, ID]) {
        const jar = client.cookies.get(name)!;
        const opened = await sealer.unseal<Record<string, unknown>>(PURPOSE[name]!, jar.value);
        const { sid, ...before } = opened!.data;
        expect(sid).toBeDefined();
        old[name] = { ...jar, value: await sealer.seal(PURPOSE[name]!, before, opened!.expiresAt) };
      }
      await expectNoSession(() => holding(old));
      const api = await holding(old).call('GET', '/api/whoami');
      expect(api.status).toBe(401);
      expect(api.body['error_code']).toBe('unauthorized_request');
      // The same cookies with their id still work (the test changed nothing else).
      expect((await client.call('GET', '/api/whoami')).status).toBe(200);
    });
  });
}
