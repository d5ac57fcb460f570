/**
 * Phantom tokens inside workerd: the introspection cache's shared level is the Cache API
 * (`caches.default`). Two Workers with the same bindings stand for two isolates of one data centre:
 * the second reuses what the first introspected instead of asking the provider again. The entry's
 * key is a synthetic URL of the token's SHA-256; its expiry travels with it and is checked on read.
 * (The whole phantom token flow also runs here: test/app/phantom-token.test.ts in this project.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, type WorkerBindings } from '../../../src/adapters/workers/worker.js';
import { INTROSPECTION_CACHE_ORIGIN } from '../../../src/adapters/workers/introspection-cache.js';
import { parseCookieHeader } from '../../../src/core/session/cookie-table.js';
import { SpaClient } from '../../helpers/spa-client.js';
import { startTestStack, type WorkerTestStack } from './worker-stack.js';

let stack: WorkerTestStack;
beforeAll(async () => {
  stack = await startTestStack({ opaqueAccessTokens: true });
});
afterAll(async () => {
  await stack?.close();
});

const cache = () => (caches as unknown as { default: Cache }).default;

async function sha256(text: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...hash)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A Worker (its own isolate-level cache) whose IdP fetch counts introspections. */
function worker(overrides: Record<string, string> = {}) {
  let introspections = 0;
  const instance = createWorker({
    logSink: () => {},
    fetch: (input, init) => {
      if (String(input instanceof Request ? input.url : input).endsWith('/introspection')) introspections++;
      return fetch(input, init);
    },
  });
  const bindings: WorkerBindings = { ...stack.env, ...overrides };
  return {
    app: { request: (input: string, init?: RequestInit) => instance.fetch(new Request(input, init), bindings) },
    agent: instance.load(bindings).agent,
    introspections: () => introspections,
  };
}

describe('the Cache API as the shared introspection cache', () => {
  it('lets a second isolate reuse the first one’s introspection, under the hash of the token', async () => {
    const first = worker();
    const spa = new SpaClient(first.app);
    expect((await spa.login()).status).toBe(200);
    expect((await spa.json('GET', '/api/whoami')).body['sub']).toBe('demo');
    expect(first.introspections()).toBe(1);

    const opaque = (await first.agent.readAccessToken(parseCookieHeader(spa.cookieHeader('/api'))))!.token;
    const entry = await cache().match(`${INTROSPECTION_CACHE_ORIGIN}/${await sha256(opaque)}`);
    expect(entry).toBeDefined();
    const jwt = await entry!.text();
    expect(jwt.split('.')).toHaveLength(3);
    expect(jwt).not.toContain(opaque);
    expect(Number(entry!.headers.get('x-token-handler-expires-at'))).toBeGreaterThan(Date.now());

    const second = worker();
    const again = await new SpaClient(second.app).json('GET', '/api/whoami', { headers: { cookie: spa.cookieHeader('/api') } });
    expect(again.body['sub']).toBe('demo');
    expect(second.introspections()).toBe(0);
  });

  it('ignores an entry whose expiry has passed, and writes nothing when the TTL is 0', async () => {
    const spa = new SpaClient(worker().app);
    await spa.login();
    const opaque = (await worker().agent.readAccessToken(parseCookieHeader(spa.cookieHeader('/api'))))!.token;
    const key = `${INTROSPECTION_CACHE_ORIGIN}/${await sha256(opaque)}`;
    await cache().put(key, new Response('a.stale.jwt', { headers: { 'cache-control': 'max-age=600', 'x-token-handler-expires-at': String(Date.now() - 1000) } }));

    const reader = worker();
    expect((await new SpaClient(reader.app).json('GET', '/api/whoami', { headers: { cookie: spa.cookieHeader('/api') } })).body['sub']).toBe('demo');
    expect(reader.introspections()).toBe(1);
    expect(await (await cache().match(key))!.text()).not.toBe('a.stale.jwt');

    const uncached = worker({ TH_INTROSPECTION_CACHE_TTL: '0' });
    const other = new SpaClient(uncached.app);
    await other.login();
    expect((await other.json('GET', '/api/whoami')).status).toBe(200);
    const otherToken = (await uncached.agent.readAccessToken(parseCookieHeader(other.cookieHeader('/api'))))!.token;
    expect(await cache().match(`${INTROSPECTION_CACHE_ORIGIN}/${await sha256(otherToken)}`)).toBeUndefined();
  });
});
