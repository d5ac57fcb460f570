/**
 * Logout revokes the session inside workerd (contract §6.3): two Worker instances sharing the
 * SESSION_STORE Durable Object namespace; a copy of the cookies on the other instance is refused
 * once the session logged out. Without the binding, TH_SESSION_STORE=durable-object does not start.
 * Concurrent refreshes of one session all succeed: within an isolate without a store, and across
 * instances with the Durable Object (contract §6.1), where 20 at once over two instances cost the
 * provider (which rotates refresh tokens and ends the grant on reuse) exactly one refresh, twice in a row.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaClient } from '../../helpers/spa-client.js';
import type { RawConfig } from '../../../src/config/parse.js';
import { parseCookieHeader, readCookieValue } from '../../../src/core/session/cookie-table.js';
import { startTestStack, type WorkerApp, type WorkerTestStack } from './worker-stack.js';

const AT_ONCE = 20;

let stack: WorkerTestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** The access token inside a browser's access-token cookie, as the app unseals it. */
async function accessTokenOf(client: SpaClient, app: WorkerApp): Promise<string> {
  const sealed = readCookieValue(parseCookieHeader(client.cookieHeader('/api')), app.agent.names.at);
  return (await app.agent.sealer.unseal<{ t: string }>('at', sealed))!.data.t;
}

describe('logout revokes the session (workerd, Durable Object store)', () => {
  it('refuses a copy of the cookies on another instance', async () => {
    const settings = { TH_SESSION_STORE: 'durable-object', TH_REVOCATION_CACHE_TTL: '0', SESSION_STORE: env['SESSION_STORE'] } as unknown as RawConfig;
    const [one, two] = [stack.makeApp(settings), stack.makeApp(settings)];
    const client = new SpaClient(one);
    await client.login();
    const copy = new SpaClient(two);
    for (const [name, cookie] of client.cookies) copy.cookies.set(name, { ...cookie });
    expect((await copy.json('GET', '/api/whoami')).status).toBe(200);
    expect((await client.json('POST', '/oauth-agent/logout')).status).toBe(200);

    const api = await copy.json('GET', '/api/whoami');
    expect(api.status).toBe(401);
    expect(api.body['error_code']).toBe('unauthorized_request');
    expect((await copy.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
  });

  it('coordinates refreshes within the isolate without a store: 10 at once all answer 200, one refresh at the provider (which rotates and detects reuse)', async () => {
    const client = new SpaClient(stack.makeApp());
    await client.login();
    const before = await stack.refreshGrants();
    const answers = await Promise.all(Array.from({ length: 10 }, () => client.request('POST', '/oauth-agent/refresh')));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect((await stack.refreshGrants()) - before).toBe(1);
    expect((await client.json('GET', '/api/whoami')).status).toBe(200);
  });

  it('coordinates refreshes across instances with the Durable Object: 20 at once over two, all 200, one refresh at the provider, alive on both; twice in a row', async () => {
    const settings = { TH_SESSION_STORE: 'durable-object', SESSION_STORE: env['SESSION_STORE'] } as unknown as RawConfig;
    const [one, two] = [stack.makeApp(settings), stack.makeApp(settings)];
    const client = new SpaClient(one);
    await client.login();
    // Each instance's browser keeps the cookies it is given from here on.
    const other = new SpaClient(two);
    for (const [name, cookie] of client.cookies) other.cookies.set(name, { ...cookie });
    for (const round of [1, 2]) {
      const before = await stack.refreshGrants();
      const answers = await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => (i % 2 ? other : client).request('POST', '/oauth-agent/refresh')));
      expect(answers.map((a) => a.status), `round ${round}`).toEqual(Array(AT_ONCE).fill(200));
      expect((await stack.refreshGrants()) - before, `round ${round}: refreshes the provider saw`).toBe(1);
      expect(await accessTokenOf(other, two), `round ${round}`).toBe(await accessTokenOf(client, one));
      for (const browser of [client, other]) {
        expect((await browser.json('GET', '/api/whoami')).status, `round ${round}`).toBe(200);
        expect((await browser.json('GET', '/oauth-agent/session')).body['is_logged_in'], `round ${round}`).toBe(true);
      }
    }
  });

  it('does not start with TH_SESSION_STORE=durable-object but no SESSION_STORE binding', () => {
    expect(() => stack.makeApp({ TH_SESSION_STORE: 'durable-object' })).toThrow(/SESSION_STORE Durable Object binding/);
  });
});
