/**
 * Logout revokes the session (contract §6.3): a copy of the cookies taken before `POST /logout` is
 * refused afterwards, by the agent (logged out, cookies cleared) and by the proxy (401), on the
 * same instance with the default memory store and on another instance sharing a real Redis; the
 * per-instance cache (TH_REVOCATION_CACHE_TTL) delays it on an instance that had asked before; a
 * store that is down answers 503 `store_unavailable` and the same cookies work again once it is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { RedisServer } from '../stores/redis-server.js';
import { eventually } from '../stores/contract.js';
import type { NodeTokenHandler } from '../../src/adapters/node/server.js';

let stack: TestStack;
let redis: RedisServer;
beforeAll(async () => {
  [stack, redis] = await Promise.all([startTestStack(), RedisServer.start()]);
});
afterAll(async () => {
  await Promise.all([stack?.close(), redis?.close()]);
});

/** Another browser holding a copy of `client`'s cookies, talking to `app`. */
function copyOf(client: SpaClient, app: NodeTokenHandler = client.app as NodeTokenHandler): SpaClient {
  const copy = new SpaClient(app);
  for (const [name, cookie] of client.cookies) copy.cookies.set(name, { ...cookie });
  return copy;
}

async function expectRefused(copy: SpaClient): Promise<void> {
  const api = await copy.json('GET', '/api/whoami');
  expect(api.status).toBe(401);
  expect(api.body['error_code']).toBe('unauthorized_request');
  const session = await copy.json('GET', '/oauth-agent/session');
  expect(session.body).toEqual({ is_logged_in: false });
  // The agent clears the replayed cookies: the copy holds no session cookie any more.
  expect([...copy.cookies.keys()].filter((name) => /-(at|rt|id)(-\d+)?$/.test(name))).toEqual([]);
}

describe('logout revokes the session', () => {
  it('refuses a copy of the cookies on the same instance (memory store, the Node default)', async () => {
    const client = new SpaClient(stack.app);
    await client.login();
    const copy = copyOf(client);
    expect((await copy.json('GET', '/api/whoami')).status).toBe(200);
    expect((await client.json('POST', '/oauth-agent/logout')).status).toBe(200);

    const userinfo = await copyOf(client).json('GET', '/oauth-agent/userinfo');
    expect(userinfo.status).toBe(401);
    expect(userinfo.body['error_code']).toBe('unauthorized_request');
    const refresh = await copyOf(client).json('POST', '/oauth-agent/refresh');
    expect(refresh.status).toBe(401);
    expect(refresh.body['error_code']).toBe('session_expired');
    await expectRefused(copy);
    expect(stack.logs.some((line) => line.includes('"session_revoked"'))).toBe(true);
  });

  it('leaves other sessions alone', async () => {
    const [first, second] = [new SpaClient(stack.app), new SpaClient(stack.app)];
    await Promise.all([first.login(), second.login()]);
    await first.json('POST', '/oauth-agent/logout');
    expect((await second.json('GET', '/api/whoami')).status).toBe(200);
    expect((await second.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
  });

  it('refuses the copy on another instance sharing Redis', async () => {
    const settings = { TH_SESSION_STORE: redis.url, TH_REVOCATION_CACHE_TTL: '0' };
    const [one, two] = [stack.makeApp(settings), stack.makeApp(settings)];
    try {
      const client = new SpaClient(one);
      await client.login();
      const copy = copyOf(client, two);
      expect((await copy.json('GET', '/api/whoami')).status).toBe(200);
      expect((await client.json('POST', '/oauth-agent/logout')).status).toBe(200);
      await expectRefused(copy);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('trusts its cached answer for TH_REVOCATION_CACHE_TTL on an instance that asked before', async () => {
    let now = Date.now();
    const clock = () => now;
    const settings = { TH_SESSION_STORE: redis.url, TH_REVOCATION_CACHE_TTL: '5' };
    const [one, two] = [stack.makeApp(settings), stack.makeApp(settings, { now: clock })];
    try {
      const client = new SpaClient(one);
      await client.login();
      const copy = copyOf(client, two);
      expect((await copy.json('GET', '/api/whoami')).status).toBe(200);
      await client.json('POST', '/oauth-agent/logout');
      // Still the cached "not revoked" on the second instance…
      expect((await copy.json('GET', '/api/whoami')).status).toBe(200);
      now += 5_001;
      // …and refused once the cached answer is older than the TTL.
      expect((await copy.json('GET', '/api/whoami')).status).toBe(401);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('answers 503 store_unavailable while the store is down (fail closed), and works again when it is back', async () => {
    const app = stack.makeApp({ TH_SESSION_STORE: redis.url, TH_REVOCATION_CACHE_TTL: '0' });
    try {
      const client = new SpaClient(app);
      await client.login();
      await redis.stop();
      const api = await client.json('GET', '/api/whoami');
      expect(api.status).toBe(503);
      expect(api.body['error_code']).toBe('store_unavailable');
      const session = await client.json('GET', '/oauth-agent/session');
      expect(session.status).toBe(503);
      expect(session.body['error_code']).toBe('store_unavailable');
      // One warning line for the outage, not one per refused request.
      expect(stack.logs.filter((line) => line.includes('"msg":"store_unavailable"'))).toHaveLength(1);
      // A logout during the outage cannot be recorded: 503, but the browser's cookies are cleared all the same.
      const copy = copyOf(client);
      const logout = await copy.json('POST', '/oauth-agent/logout');
      expect(logout.status).toBe(503);
      expect(logout.response.headers.getSetCookie().filter((c) => c.includes('Max-Age=0')).length).toBeGreaterThanOrEqual(3);
      await redis.startAgain();
      // The client reconnects by itself, with backoff: poll until it has.
      await eventually(async () => ((await client.json('GET', '/api/whoami')).status === 200 ? undefined : Promise.reject(new Error('still refused'))));
      expect((await client.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
    } finally {
      await app.close();
    }
  });
});
