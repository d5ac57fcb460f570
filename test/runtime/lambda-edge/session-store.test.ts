/**
 * Lambda@Edge with its DynamoDB session store (contract §6), through CloudFront origin-request
 * events: two function instances sharing one table (dynalite, with the real AWS SDK client). A
 * copy of the cookies on the other instance is refused once the session logged out; concurrent
 * refreshes spread over both instances all succeed against the provider, which rotates refresh
 * tokens and ends the grant on reuse.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEdgeHandler, type EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { Dynalite, TEST_CREDENTIALS, TEST_REGION, createTable } from '../../stores/dynalite-server.js';
import { EdgeSpa } from './cloudfront.js';

const TABLE = 'edge-sessions';
let stack: TestStack;
let dynalite: Dynalite;
let one: EdgeHandler;
let two: EdgeHandler;

beforeAll(async () => {
  [stack, dynalite] = await Promise.all([startTestStack(), Dynalite.start()]);
  await createTable(dynalite.endpoint, TABLE);
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

  it('coordinates 10 refreshes at once over both instances: all 200', async () => {
    const spa = await loggedIn(one);
    const other = copyOf(spa, two);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : spa).json('POST', '/oauth-agent/refresh')));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect((await other.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
  });
});
