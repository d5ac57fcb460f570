/**
 * The Worker keeps writing each log line with console.log as it is made (what Workers Logs
 * collects): an isolate may run no later turn once the answer is out, so nothing waits for one.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { createWorker } from '../../../src/adapters/workers/worker.js';
import { randomSecret } from '../../helpers/config.js';
import { PUBLIC_ORIGIN } from '../../helpers/spa-client.js';

afterEach(() => {
  vi.restoreAllMocks();
});

it('has the request line on console.log, one line a call, by the time the answer is back', async () => {
  const calls: unknown[][] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void calls.push(args));
  const worker = createWorker();
  // No provider is needed for health; an unreachable issuer keeps the test to the log line.
  const bindings = { TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN, TH_ISSUER: 'http://127.0.0.1:9', TH_CLIENT_ID: 'spa', TH_CLIENT_SECRET: randomSecret(), TH_COOKIE_KEYS: `k1:${randomSecret()}` };
  const response = await worker.fetch(new Request(`${PUBLIC_ORIGIN}/oauth-agent/health`), bindings);
  expect(response.status).toBe(200);
  const lines = calls.map((args) => {
    expect(args).toHaveLength(1);
    expect(String(args[0])).not.toContain('\n');
    return JSON.parse(String(args[0])) as Record<string, unknown>;
  });
  expect(lines.filter((line) => line['msg'] === 'request')).toEqual([
    expect.objectContaining({ level: 'info', method: 'GET', path: '/oauth-agent/health', status: 200, request_id: response.headers.get('x-request-id') }),
  ]);
});
