/**
 * Lambda@Edge with its DynamoDB session store (contract §6), through CloudFront origin-request
 * events: two function instances sharing one table (dynalite, with the real AWS SDK client). A
 * copy of the cookies on the other instance is refused once the session logged out; 20 refreshes
 * of one session at once, spread over both instances, all succeed against the provider, which
 * rotates refresh tokens and ends the grant on reuse, and it sees exactly one refresh per round.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEdgeHandler, type EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { countRefreshGrants } from '../../helpers/refresh-grants.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { Dynalite, TEST_CREDENTIALS, TEST_REGION, createTable } from '../../stores/dynalite-server.js';
import { EdgeSpa } from './cloudfront.js';

const TABLE = 'edge-sessions';
const AT_ONCE = 20;
let stack: TestStack;
let refreshGrants: () => number;
let dynalite: Dynalite;
let one: EdgeHandler;
let two: EdgeHandler;

beforeAll(async () => {
  [stack, dynalite] = await Promise.all([startTestStack(), Dynalite.start()]);
  await createTable(dynalite.endpoint, TABLE);
  refreshGrants = countRefreshGrants(stack.provider.provider);
  const handler = () =>
    createEdgeHandler({
      settings: {
        TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
        TH_ISSUER: stack.provider.issuer,
        TH_CLIENT_ID: CLIENT_ID,
        TH_CLIENT_SECRET: stack.clientSecret,
        TH_COOKIE_KEYS: stack.cookieKeys,
        TH_SESSION_STORE: `dynamodb://${TABLE}?region=${TEST_REGION}`,
        TH_SESSION_STORE_ENDPOINT: dynalite.endpoint,
        TH_REVOCATION_CACHE_TTL: '0',
      },
      storeCredentials: TEST_CREDENTIALS,
      logSink: vi.fn(),
    });
  [one, two] = [handler(), handler()];
});
afterAll(async () => {
  await dynalite?.stop();
  await stack?.close();
});

function copyOf(spa: EdgeSpa, handler: EdgeHandler): EdgeSpa {
  const copy = new EdgeSpa(handler, PUBLIC_ORIGIN);
  for (const [name, cookie] of spa.cookies) copy.cookies.set(name, { ...cookie });
  return copy;
}

/** The access token inside a browser's access-token cookie, unsealed with the cookie keys both instances use. */
async function accessTokenOf(spa: EdgeSpa): Promise<string> {
  const sealed = spa.cookies.get(stack.app.agent.names.at)!.value;
  return (await stack.app.agent.sealer.unseal<{ t: string }>('at', sealed))!.data.t;
}

async function loggedIn(handler: EdgeHandler): Promise<EdgeSpa> {
  const spa = new EdgeSpa(handler, PUBLIC_ORIGIN);
  const callback = await spa.loginAtProvider();
  expect((await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) })).status).toBe(200);
  return spa;
}

describe('Lambda@Edge with DynamoDB', () => {
  it('refuses a copy of the cookies on another instance after logout', async () => {
    const spa = await loggedIn(one);
    const copy = copyOf(spa, two);
    expect((await copy.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
    expect((await spa.json('POST', '/oauth-agent/logout')).status).toBe(200);
    expect((await copy.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
  });

  it('coordinates 20 refreshes at once over both instances: all 200, one refresh at the provider, the session lives on both; twice in a row', async () => {
    const spa = await loggedIn(one);
    // Each instance's browser keeps the cookies it is given from here on.
    const other = copyOf(spa, two);
    for (const round of [1, 2]) {
      const before = refreshGrants();
      const answers = await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => (i % 2 ? other : spa).json('POST', '/oauth-agent/refresh')));
      expect(answers.map((a) => a.status), `round ${round}`).toEqual(Array(AT_ONCE).fill(200));
      expect(refreshGrants() - before, `round ${round}: refreshes the provider saw`).toBe(1);
      expect(await accessTokenOf(other), `round ${round}`).toBe(await accessTokenOf(spa));
      for (const client of [spa, other]) expect((await client.json('GET', '/oauth-agent/session')).body['is_logged_in'], `round ${round}`).toBe(true);
    }
  });
});
