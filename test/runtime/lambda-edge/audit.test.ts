/**
 * Audit events through the built Lambda@Edge bundle with CloudFront origin-request events: the
 * lines reach CloudWatch through console.log, valid against docs/audit-event.schema.json, with
 * CloudFront's request id. Every event's own case is test/app/audit.test.ts (Node and workerd).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { auditLines } from '../../helpers/audit-lines.js';
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
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await edge?.remove();
  await stack?.close();
});

describe('audit events on Lambda@Edge', () => {
  it('writes login, refresh and logout of one session, and a failed refresh with its reason, under CloudFront request ids', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const callback = await spa.loginAtProvider();
    const login = await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) });
    expect(login.status).toBe(200);
    const refresh = await spa.json('POST', '/oauth-agent/refresh');
    const logout = await spa.json('POST', '/oauth-agent/logout');
    const failed = await spa.json('POST', '/oauth-agent/refresh');
    expect(failed.status).toBe(401);
    const idOf = (exchange: typeof login.exchange) => exchange.event.Records[0]!.cf.config.requestId;
    const audits = auditLines(logs);
    expect(audits.map((l) => [l['event'], l['outcome'], l['reason'], l['request_id']])).toEqual([
      ['login', 'success', undefined, idOf(login.exchange)],
      ['refresh', 'success', undefined, idOf(refresh.exchange)],
      ['logout', 'success', undefined, idOf(logout.exchange)],
      ['refresh', 'failure', 'no_refresh_token', idOf(failed.exchange)],
    ]);
    expect(new Set(audits.slice(0, 3).map((l) => l['session'])).size).toBe(1);
    // TH_CLOUDWATCH_METRICS is off: no Embedded Metric Format lines (test/runtime/lambda-edge/metrics.test.ts has them on).
    expect(logs.filter((l) => l.includes('"_aws"'))).toEqual([]);
  });
});
