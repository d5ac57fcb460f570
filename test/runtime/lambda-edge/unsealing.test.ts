/**
 * Unsealing on Lambda@Edge: Node's synchronous node:crypto primitives (the Node adapter's), and the
 * sealer's cache of opened cookies on a warm container, through origin-request events.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createEdgeHandler, type EdgeHandlerOptions } from '../../../src/adapters/lambda-edge/handler.js';
import { nodeUnsealCrypto } from '../../../src/adapters/node/unseal-crypto.js';
import { createSealer } from '../../../src/core/session/cookie-seal.js';
import { newSessionId } from '../../../src/core/session/session-cookies.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { isRequest, originRequestEvent } from './cloudfront.js';

let stack: TestStack;
let cookie: string;

beforeAll(async () => {
  stack = await startTestStack();
  const sealer = createSealer(stack.config.cookieKeys, Date.now);
  const sealed = await sealer.seal('at', { sid: newSessionId(), t: 'the-access-token' }, Math.floor(Date.now() / 1000) + 600);
  cookie = `${stack.config.cookieNames.at}=${sealed}`;
});

afterAll(async () => {
  vi.restoreAllMocks();
  await stack.close();
});

const handlerWith = (options: Partial<EdgeHandlerOptions> = {}) =>
  createEdgeHandler({
    settings: {
      TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
      TH_ISSUER: stack.provider.issuer,
      TH_CLIENT_ID: CLIENT_ID,
      TH_CLIENT_SECRET: stack.clientSecret,
      TH_COOKIE_KEYS: stack.cookieKeys,
      TH_API_ROUTES: '/api=https://api.example.com/v1',
    },
    logSink: vi.fn(),
    ...options,
  });

async function authorizationOf(handler: ReturnType<typeof handlerWith>): Promise<string | undefined> {
  const result = await handler(originRequestEvent({ method: 'GET', target: '/api/orders', headers: [['Cookie', cookie], ['Origin', PUBLIC_ORIGIN]] }));
  if (!isRequest(result)) throw new Error(`expected the request handed back to CloudFront, got ${JSON.stringify(result)}`);
  return result.headers['authorization']?.[0]?.value;
}

it("unseals with node:crypto by default, and a warm container's second call is a cache hit", async () => {
  const verify = vi.spyOn(nodeUnsealCrypto, 'verifyHmacSha256');
  const handler = handlerWith();
  expect(await authorizationOf(handler)).toBe('Bearer the-access-token');
  expect(await authorizationOf(handler)).toBe('Bearer the-access-token');
  expect(verify).toHaveBeenCalledTimes(1);
  verify.mockRestore();
});

it('checks the MAC on every call without the cache, and not with node:crypto when given Web Crypto', async () => {
  const verify = vi.spyOn(nodeUnsealCrypto, 'verifyHmacSha256');
  const uncached = handlerWith({ unsealCache: false });
  expect(await authorizationOf(uncached)).toBe('Bearer the-access-token');
  expect(await authorizationOf(uncached)).toBe('Bearer the-access-token');
  expect(verify).toHaveBeenCalledTimes(2);
  expect(await authorizationOf(handlerWith({ unsealCrypto: null, unsealCache: false }))).toBe('Bearer the-access-token');
  expect(verify).toHaveBeenCalledTimes(2);
  verify.mockRestore();
});
