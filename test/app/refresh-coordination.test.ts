/**
 * Refresh coordination (contract §6.1) against the real oidc-provider, which rotates refresh
 * tokens and ends the whole grant when a rotated one is presented again: 20 refreshes of one
 * session at once all answer 200 and the provider sees exactly one refresh, twice in a row; a
 * refresh presenting the superseded token within TH_REFRESH_GRACE gets the same new tokens
 * without reaching the provider. On Node with the memory store (the default) and with two token
 * handler instances sharing a real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { RedisServer } from '../stores/redis-server.js';
import { countRefreshGrants } from '../helpers/refresh-grants.js';
import { parseCookieHeader, readCookieValue } from '../../src/core/session/cookie-table.js';
import type { NodeTokenHandler } from '../../src/adapters/node/server.js';

let stack: TestStack;
let redis: RedisServer;
/** Refresh requests the provider handled, answered or refused (a refused one is a reused token). */
let refreshGrants: () => number;
beforeAll(async () => {
  [stack, redis] = await Promise.all([startTestStack(), RedisServer.start()]);
  refreshGrants = countRefreshGrants(stack.provider.provider);
});
afterAll(async () => {
  await Promise.all([stack?.close(), redis?.close()]);
});

/** The access token inside the client's access-token cookie (as the app unseals it). */
async function accessTokenOf(client: SpaClient, app: NodeTokenHandler): Promise<string> {
  const sealed = readCookieValue(parseCookieHeader(client.cookieHeader('/api')), app.agent.names.at);
  return (await app.agent.sealer.unseal<{ t: string }>('at', sealed))!.data.t;
}

function copyOf(client: SpaClient, app: NodeTokenHandler): SpaClient {
  const copy = new SpaClient(app);
  for (const [name, cookie] of client.cookies) copy.cookies.set(name, { ...cookie });
  return copy;
}

async function twentyAtOnce(clients: SpaClient[]): Promise<number[]> {
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => clients[i % clients.length]!.request('POST', '/oauth-agent/refresh')));
  return answers.map((a) => a.status);
}

describe('refresh coordination', () => {
  it('20 refreshes of one session at once: all 200, one refresh at the provider, the session lives on; twice in a row', async () => {
    const client = new SpaClient(stack.app);
    await client.login();
    for (const round of [1, 2]) {
      const before = refreshGrants();
      expect(await twentyAtOnce([client]), `round ${round}`).toEqual(Array(20).fill(200));
      expect(refreshGrants() - before, `round ${round}`).toBe(1);
      expect((await client.json('GET', '/api/whoami')).status).toBe(200);
    }
    expect(stack.logs.some((line) => line.includes('"coordinated":true'))).toBe(true);
  });

  it('a refresh with the superseded refresh token within TH_REFRESH_GRACE gets the same new tokens', async () => {
    const client = new SpaClient(stack.app);
    await client.login();
    const late = copyOf(client, stack.app);
    expect((await client.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    const before = refreshGrants();
    expect((await late.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    expect(refreshGrants()).toBe(before);
    expect(await accessTokenOf(late, stack.app)).toBe(await accessTokenOf(client, stack.app));
    // The grant survived: the rotated token still refreshes.
    expect((await client.json('POST', '/oauth-agent/refresh')).status).toBe(200);
  });

  it('across two instances sharing Redis: 20 at once, spread over both, one refresh at the provider, twice in a row', async () => {
    const settings = { TH_SESSION_STORE: redis.url };
    const [one, two] = [stack.makeApp(settings), stack.makeApp(settings)];
    try {
      const client = new SpaClient(one);
      await client.login();
      for (const round of [1, 2]) {
        // Both browsers' views of the session (tab on instance one, tab on instance two) start from the same cookies.
        const other = copyOf(client, two);
        const before = refreshGrants();
        expect(await twentyAtOnce([client, other]), `round ${round}`).toEqual(Array(20).fill(200));
        expect(refreshGrants() - before, `round ${round}`).toBe(1);
        expect(await accessTokenOf(other, two)).toBe(await accessTokenOf(client, one));
        expect((await client.json('GET', '/api/whoami')).status).toBe(200);
        expect((await other.json('GET', '/api/whoami')).status).toBe(200);
      }
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});
