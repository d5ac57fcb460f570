/**
 * The proxy's routing (contract §2): which route a path goes to, and paths that try to climb out of it.
 * The harness (./proxy-harness.ts) starts the upstreams, the stack and the Node server for this file.
 */
import { describe, expect, it } from 'vitest';
import { call, expectError, raw, session, stack, upstreamCount } from './proxy-harness.js';

// --- routes and paths -------------------------------------------------------------------------

describe('routes', () => {
  it('matches on a / boundary, prefers the longest prefix, and maps onto the base path with the query kept', async () => {
    const orders = await call('GET', '/api/orders/7?a=1&b=%2F&a=2');
    expect(orders.status).toBe(200);
    expect(orders.json).toMatchObject({ path: '/api/echo/orders/7', search: '?a=1&b=%2F&a=2', authorization: 'valid' });
    const bare = await call('GET', '/api/orders');
    expect(bare.json['path']).toBe('/api/echo/orders');
    // /api/ordersx is not under /api/orders: it goes to the /api route, as /api/ordersx.
    const before = stack.upstreamRequests.length;
    const ordersx = await call('GET', '/api/ordersx/7');
    expect(stack.upstreamRequests.slice(before).map((r) => r.path)).toEqual(['/api/ordersx/7']);
    expect(ordersx.status).toBe(404); // the example API's own 404, passed back
    expect(ordersx.json).toEqual({ error: 'not_found' });
  });

  it.each(['/apix', '/apix/whoami', '/API/whoami', '/ap', '/other/api/whoami', '/%61pi/whoami'])('answers 404 for %s and forwards nothing', async (path) => {
    const before = upstreamCount();
    expectError(await call('GET', path), 404, 'not_found');
    expect(upstreamCount()).toBe(before);
  });
});

describe('paths that climb out of their route', () => {
  const forms = [
    '/api/../oauth-agent/session',
    '/api/echo/../../admin',
    '/api/./whoami',
    '/api/echo/..',
    '/x/../api/whoami',
    '/api/%2e%2e/admin',
    '/api/%2E%2e/admin',
    '/api/.%2e/admin',
    '/api/%2e/whoami',
    '/api/%252e%252e/admin',
    '/api/%25252e%25252e/admin',
    '/api/echo%2f..%2f..%2fadmin',
    '/api/echo%2F..%2Fadmin',
    '/api/echo%252f..%252fadmin',
    '/api/echo%5c..%5cadmin',
    '/api/echo/..;/admin',
    '/api/echo/%2e%2e;x/admin',
    '/api/%c0%ae%c0%ae/admin',
    '/api/%ef%bc%8e%ef%bc%8e/admin',
    '/api/echo%ef%bc%8f..%ef%bc%8fadmin',
    '/api/echo%00',
    '/api/%zz',
    '/api/..#x',
    '/api/echo/..%23',
  ];

  it.each(forms)('refuses %s with 400 invalid_request over HTTP, forwarding nothing', async (path) => {
    const before = upstreamCount();
    const res = await raw('GET', path, ['cookie', session]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'invalid_request' });
    expect(res.headers['content-type']).toBe('application/json');
    expect(upstreamCount()).toBe(before);
  });

  it('refuses a raw backslash (which URL parsing reads as a slash) with the JSON error', async () => {
    const before = upstreamCount();
    const res = await raw('GET', '/api/echo\\..\\admin', ['cookie', session]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'invalid_request' });
    expect(upstreamCount()).toBe(before);
  });

  it.each(['http://evil.test/api/whoami', 'http://127.0.0.1/api/whoami', 'https://www.example.test/api/whoami', '*'])(
    'refuses the absolute-form or odd target %s before routing',
    async (target) => {
      const before = upstreamCount();
      const res = await raw('GET', target, ['cookie', session]);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ error_code: 'invalid_request' });
      expect(upstreamCount()).toBe(before);
    },
  );

  it('still forwards ordinary paths over HTTP as sent (dots inside names, encoded spaces)', async () => {
    const res = await raw('GET', '/api/echo/a..b/.well-known/caf%C3%A9%20x?q=%2e%2e', ['cookie', session]);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ path: '/api/echo/a..b/.well-known/caf%C3%A9%20x', search: '?q=%2e%2e', authorization: 'valid' });
  });
});
