/**
 * Contract §3, "One session, one id": the cases of test/helpers/session-binding.ts against the real
 * provider. Runs twice: in Node against the Node app, and in the workerd project (vitest.config.ts,
 * SHARED_SUITES) against the Worker inside workerd, where `../helpers/stack.js` is
 * test/runtime/workers/worker-stack.ts. The Lambda@Edge run is test/runtime/lambda-edge/session-binding.test.ts.
 */
import { afterAll, beforeAll } from 'vitest';
import { createSealer, type Sealer } from '../../src/core/session/cookie-seal.js';
import { SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { describeSessionBinding, type BindingClient } from '../helpers/session-binding.js';

let stack: TestStack;
let sealer: Sealer;
beforeAll(async () => {
  stack = await startTestStack();
  sealer = createSealer(stack.config.cookieKeys, Date.now);
});
afterAll(async () => {
  await stack?.close();
});

function client(): BindingClient {
  const spa = new SpaClient(stack.app);
  return {
    cookies: spa.cookies,
    login: async () => (await spa.login()).status,
    async call(method, path) {
      const { status, body, response } = await spa.json(method, path);
      return { status, body, setCookies: response.headers.getSetCookie() };
    },
  };
}

describeSessionBinding(() => ({ newClient: client, sealer }));
