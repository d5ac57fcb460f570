/**
 * Metrics on Lambda@Edge: with TH_CLOUDWATCH_METRICS on, the built bundle writes CloudWatch
 * Embedded Metric Format lines (the shape CloudWatch Logs extracts metrics from) for requests,
 * logins and IdP calls, through console.log. Off by default: test/runtime/lambda-edge/audit.test.ts
 * sees none.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { METRICS } from '../../../src/core/metrics.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { EdgeSpa, loadBuiltHandler } from './cloudfront.js';

let stack: TestStack;
let edge: { handler: EdgeHandler; remove(): Promise<void> };
const logs: string[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(String(line)));
  edge = await loadBuiltHandler({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: stack.provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
    TH_API_ROUTES: `/api=http://localhost:${new URL(stack.api.url).port}/api`,
    TH_CLOUDWATCH_METRICS: 'on',
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await edge?.remove();
  await stack?.close();
});

interface EmfLine {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [field: string]: unknown;
}

describe('CloudWatch Embedded Metric Format on Lambda@Edge', () => {
  it('writes a metric line per request, login and IdP call, each with its dimensions and value', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const callback = await spa.loginAtProvider();
    expect((await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) })).status).toBe(200);
    const api = await spa.send('GET', '/api/whoami');
    expect(api.forwarded).toBeDefined();

    const emf = logs.map((l) => JSON.parse(l) as EmfLine).filter((l) => l._aws);
    for (const line of emf) {
      const [directive] = line._aws.CloudWatchMetrics;
      const name = directive!.Metrics[0]!.Name as keyof typeof METRICS;
      expect(directive!.Namespace).toBe('EdgeTokenHandler');
      expect(directive!.Dimensions).toEqual([[...METRICS[name].labels]]);
      for (const dimension of METRICS[name].labels) expect(typeof line[dimension]).toBe('string');
      expect(typeof line[name]).toBe('number');
    }
    const find = (name: string, fields: Record<string, string>) => emf.filter((l) => l._aws.CloudWatchMetrics[0]!.Metrics[0]!.Name === name && Object.entries(fields).every(([k, v]) => l[k] === v));
    expect(find('requests', { kind: 'agent', route: '/login/end', status: '200' })).toHaveLength(1);
    expect(find('requests', { kind: 'api', route: '/api', status: 'forwarded' })).toHaveLength(1);
    expect(find('auth_events', { event: 'login', outcome: 'success' })).toHaveLength(1);
    const token = find('idp_duration', { endpoint: 'token', outcome: 'answered' });
    expect(token).toHaveLength(1);
    expect(token[0]!._aws.CloudWatchMetrics[0]!.Metrics[0]!.Unit).toBe('Milliseconds');
  });
});
