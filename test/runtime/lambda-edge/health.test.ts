/**
 * `{agent}/health` and `{agent}/ready` on Lambda@Edge: answered by the function on the agent
 * behaviour's origin-request event, against the real oidc-provider.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createEdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { isGeneratedResponse, originRequestEvent } from './cloudfront.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack.close();
});

const handlerFor = (issuer: string) =>
  createEdgeHandler({
    settings: { TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN, TH_ISSUER: issuer, TH_CLIENT_ID: CLIENT_ID, TH_CLIENT_SECRET: stack.clientSecret, TH_COOKIE_KEYS: stack.cookieKeys },
    logSink: vi.fn(),
  });

async function answer(handler: ReturnType<typeof handlerFor>, target: string) {
  const result = await handler(originRequestEvent({ method: 'GET', target }));
  if (!isGeneratedResponse(result)) throw new Error('expected the function to answer itself');
  return { status: result.status, body: result.body };
}

it('answers health and, with the provider loaded, ready', async () => {
  const handler = handlerFor(stack.provider.issuer);
  expect(await answer(handler, '/oauth-agent/health')).toEqual({ status: '200', body: '{"status":"ok"}' });
  expect(await answer(handler, '/oauth-agent/ready')).toEqual({ status: '200', body: '{"status":"ready"}' });
});

it('answers ready 503 while the provider is unreachable', async () => {
  const handler = handlerFor('http://127.0.0.1:9');
  expect(await answer(handler, '/oauth-agent/ready')).toEqual({ status: '503', body: '{"status":"not_ready"}' });
  expect((await answer(handler, '/oauth-agent/health')).status).toBe('200');
});
