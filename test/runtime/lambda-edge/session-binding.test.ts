/**
 * Contract §3, "One session, one id", through the built Lambda@Edge bundle with CloudFront
 * origin-request events: the cases of test/helpers/session-binding.ts (also run on Node and in
 * workerd by test/app/session-binding.test.ts), against the real provider.
 */
import { afterAll, beforeAll, vi } from 'vitest';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { createSealer, type Sealer } from '../../../src/core/session/cookie-seal.js';
import { describeSessionBinding, type BindingClient } from '../../helpers/session-binding.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { EdgeSpa, loadBuiltHandler } from './cloudfront.js';

let stack: TestStack;
let edge: { handler: EdgeHandler; remove(): Promise<void> };
let sealer: Sealer;

beforeAll(async () => {
  stack = await startTestStack();
  vi.spyOn(console, 'log').mockImplementation(() => {});
  // Plain secrets in the bundle (the build warns): KMS is handler.test.ts's concern, not this one's.
  edge = await loadBuiltHandler({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: stack.provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
    TH_API_ROUTES: `/api=http://localhost:${new URL(stack.api.url).port}/api`,
  });
  sealer = createSealer(stack.config.cookieKeys, Date.now);
});

afterAll(async () => {
  vi.restoreAllMocks();
  await edge?.remove();
  await stack?.close();
});

function client(): BindingClient {
  const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
  return {
    cookies: spa.cookies,
    async login() {
      const callback = await spa.loginAtProvider();
      return (await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) })).status;
    },
    async call(method, path) {
      const { status, body, exchange } = await spa.json(method, path);
      return { status, body, setCookies: (exchange.headers['set-cookie'] ?? []).map((h) => h.value) };
    },
  };
}

describeSessionBinding(() => ({ newClient: client, sealer }));
