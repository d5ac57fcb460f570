/**
 * Lambda@Edge keeps writing each log line with console.log as it is made (what CloudWatch
 * collects): a frozen container runs no later turn, so nothing may wait for one, as on Node.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { createEdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { randomSecret } from '../../helpers/config.js';
import { PUBLIC_ORIGIN } from '../../helpers/spa-client.js';
import { originRequestEvent } from './cloudfront.js';

afterEach(() => {
  vi.restoreAllMocks();
});

it('has the request line on console.log, one line a call, by the time the handler has answered', async () => {
  const calls: unknown[][] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void calls.push(args));
  // No provider is needed for health; an unreachable issuer keeps the test to the log line.
  const handler = createEdgeHandler({
    settings: { TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN, TH_ISSUER: 'http://127.0.0.1:9', TH_CLIENT_ID: 'spa', TH_CLIENT_SECRET: randomSecret(), TH_COOKIE_KEYS: `k1:${randomSecret()}` },
  });
  const event = originRequestEvent({ method: 'GET', target: '/oauth-agent/health' });
  await handler(event);
  const lines = calls.map((args) => {
    expect(args).toHaveLength(1);
    expect(String(args[0])).not.toContain('\n');
    return JSON.parse(String(args[0])) as Record<string, unknown>;
  });
  expect(lines.filter((line) => line['msg'] === 'request')).toEqual([
    expect.objectContaining({ level: 'info', method: 'GET', path: '/oauth-agent/health', status: 200, request_id: event.Records[0]!.cf.config.requestId }),
  ]);
});
