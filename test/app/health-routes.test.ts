/**
 * `{agent}/health` and `{agent}/ready` (contract §8), with the real oidc-provider: ready only once
 * the provider's metadata and signing keys are loaded, never again asking the provider after that,
 * 503 while shutting down, and nothing in either answer but the status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError, type SessionStore } from '../../src/core/ports.js';
import { PUBLIC_ORIGIN, startTestStack, type TestStack } from '../helpers/stack.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack.close();
});

/** The real fetch, with a record of every IdP URL asked for and, optionally, a fault for some of them. */
function recordingFetch(fault?: (url: URL) => boolean) {
  const urls: string[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    urls.push(url.pathname);
    if (fault?.(url)) return new Response('unavailable', { status: 503 });
    return fetch(input, init);
  };
  return { urls, fetch: fetcher };
}

const get = async (app: TestStack['app'], path: string, method = 'GET') => {
  const response = await app.request(PUBLIC_ORIGIN + path, { method });
  return { status: response.status, body: await response.text(), headers: response.headers };
};

describe('{agent}/health', () => {
  it('answers 200 {"status":"ok"}, uncached, without asking the provider', async () => {
    const idp = recordingFetch();
    const app = stack.makeApp({}, { fetch: idp.fetch });
    const health = await get(app, '/oauth-agent/health');
    expect(health).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(health.headers.get('cache-control')).toBe('no-store');
    expect(idp.urls).toEqual([]);
    expect((await get(app, '/oauth-agent/health', 'HEAD')).status).toBe(200);
  });

  it('answers other methods 405 with Allow', async () => {
    const post = await get(stack.app, '/oauth-agent/health', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await get(stack.app, '/oauth-agent/ready', 'DELETE')).status).toBe(405);
  });
});

describe('{agent}/ready', () => {
  it('answers 200 {"status":"ready"} once the metadata and the key set are loaded, then never asks the provider again', async () => {
    const idp = recordingFetch();
    const app = stack.makeApp({}, { fetch: idp.fetch });
    const ready = await get(app, '/oauth-agent/ready');
    expect(ready).toMatchObject({ status: 200, body: '{"status":"ready"}' });
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(idp.urls).toEqual(['/.well-known/openid-configuration', '/jwks']);

    await get(app, '/oauth-agent/ready');
    expect(idp.urls).toHaveLength(2);
  });

  it('stays ready without asking the provider once its metadata goes stale (a slow or down provider must not fail the probes)', async () => {
    const idp = recordingFetch();
    let now = Date.now();
    const app = stack.makeApp({}, { fetch: idp.fetch, now: () => now });
    expect((await get(app, '/oauth-agent/ready')).status).toBe(200);
    const asked = idp.urls.length;
    now += 2 * 60 * 60 * 1000;
    expect((await get(app, '/oauth-agent/ready')).status).toBe(200);
    expect(idp.urls).toHaveLength(asked);
  });

  it('answers 503 {"status":"not_ready"} while the key set cannot be loaded, and 200 once it can', async () => {
    let keysDown = true;
    const idp = recordingFetch((url) => keysDown && url.pathname === '/jwks');
    const app = stack.makeApp({}, { fetch: idp.fetch });
    expect(await get(app, '/oauth-agent/ready')).toMatchObject({ status: 503, body: '{"status":"not_ready"}' });
    keysDown = false;
    expect((await get(app, '/oauth-agent/ready')).status).toBe(200);
  });

  it('answers 503 while the provider is unreachable, naming nothing', async () => {
    const app = stack.makeApp({ TH_ISSUER: 'http://127.0.0.1:9/' });
    const ready = await get(app, '/oauth-agent/ready');
    expect(ready).toMatchObject({ status: 503, body: '{"status":"not_ready"}' });
    // Liveness is not readiness: the process can still serve.
    expect((await get(app, '/oauth-agent/health')).status).toBe(200);
  });

  it('answers 503 while the shared session store does not answer, and 200 once it does (revocation fails closed without it)', async () => {
    let down = true;
    const store: SessionStore = {
      get: async () => {
        if (down) throw new StoreUnavailableError('the test store is stopped');
        return undefined;
      },
      put: async () => {},
      compareAndSet: async () => true,
      delete: async () => {},
    };
    const app = stack.makeApp({}, { sessionStore: store });
    const refused = await get(app, '/oauth-agent/ready');
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toEqual({ status: 'not_ready' });
    down = false;
    expect((await get(app, '/oauth-agent/ready')).status).toBe(200);
  });

  it('answers 503 once the server is shutting down, even when loaded', async () => {
    let shuttingDown = false;
    const app = stack.makeApp({}, { shuttingDown: () => shuttingDown });
    expect((await get(app, '/oauth-agent/ready')).status).toBe(200);
    shuttingDown = true;
    expect(await get(app, '/oauth-agent/ready')).toMatchObject({ status: 503, body: '{"status":"not_ready"}' });
    expect((await get(app, '/oauth-agent/health')).status).toBe(200);
  });

  it('follows TH_AGENT_PATH', async () => {
    const app = stack.makeApp({ TH_AGENT_PATH: '/auth' });
    expect((await get(app, '/auth/ready')).status).toBe(200);
    expect((await get(app, '/oauth-agent/ready')).status).toBe(404);
  });
});
