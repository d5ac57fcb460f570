/**
 * What only the Workers runtime can show, inside workerd: the deployed entry (wrangler.toml's
 * `main` and vars, plus the stack's settings as bindings) reached through SELF, so responses cross
 * the runtime's own HTTP boundary; several Set-Cookie headers on one response; the client IP from
 * CF-Connecting-IP; compressed upstream bodies; request bodies streamed upstream with workerd's
 * fetch, and an unreachable upstream; configuration parsed and keys derived once per isolate; and
 * a bad configuration answered with a clear 500 that names variables, not values. (A refused
 * connection makes workerd itself print "Network connection lost" on stderr; the test still sees
 * the 502 it expects.)
 * (The whole flow and every agent check also run here: test/app/*.test.ts in the workerd project.)
 */
import { SELF } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWorker } from '../../../src/adapters/workers/worker.js';
import { PUBLIC_ORIGIN, SpaClient } from '../../helpers/spa-client.js';
import { randomSecret } from '../../helpers/config.js';
import { startTestStack, type WorkerTestStack } from './worker-stack.js';

/** The deployed Worker as the SPA reaches it. */
const deployed = { request: (input: string, init: RequestInit) => SELF.fetch(input, init) };

it('runs inside workerd', () => {
  // Guards the project setup itself: these tests mean nothing if they ran in Node.
  expect(navigator.userAgent).toBe('Cloudflare-Workers');
});

describe('the deployed entry, through SELF', () => {
  it('logs in with several Set-Cookie headers intact, proxies, refreshes and logs out', async () => {
    const spa = new SpaClient(deployed);
    const end = await spa.login();
    expect(end.status).toBe(200);
    expect(end.body['is_logged_in']).toBe(true);

    // login/end sets the three session cookies and clears the transaction: four separate lines,
    // none folded into another, each with its own attributes.
    const lines = end.response.headers.getSetCookie();
    expect(lines.map((l) => l.split('=')[0]!.replace(/^__Host-th-login-[A-Za-z0-9_-]{12}$/, '__Host-th-login-<id>')).sort()).toEqual(['__Host-th-at', '__Host-th-login-<id>', '__Secure-th-id', '__Secure-th-rt']);
    for (const line of lines) {
      expect(line).toMatch(/; Secure; HttpOnly; SameSite=Strict$/);
      expect(line).not.toMatch(/, __(Host|Secure)-/);
    }

    expect((await spa.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
    expect((await spa.json('GET', '/api/whoami')).body['sub']).toBe('demo');
    const refreshed = await spa.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status).toBe(200);
    expect(refreshed.response.headers.getSetCookie().length).toBeGreaterThanOrEqual(2);
    const logout = await spa.json('POST', '/oauth-agent/logout');
    expect(logout.response.headers.getSetCookie().filter((l) => l.includes('Max-Age=0')).length).toBeGreaterThanOrEqual(3);
    expect(spa.cookies.size).toBe(0);
    expect((await spa.json('GET', '/api/whoami')).status).toBe(401);
  });

  it('sends the client IP from CF-Connecting-IP upstream, never a client-supplied X-Forwarded-For', async () => {
    const spa = new SpaClient(deployed);
    await spa.login();
    const echo = await spa.json('GET', '/api/echo', { headers: { 'cf-connecting-ip': '203.0.113.7', 'x-forwarded-for': '198.51.100.66' } });
    const headers = echo.body['headers'] as Record<string, string>;
    expect(headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(headers['cf-connecting-ip']).toBeUndefined();
    expect(headers['x-forwarded-host']).toBe('www.example.test');
  });

  it('passes a gzip-encoded upstream body through still encoded, and it decodes to the original', async () => {
    const spa = new SpaClient(deployed);
    await spa.login();
    const response = await spa.request('GET', '/compressed/report');
    expect(response.status).toBe(200);
    // Workers' fetch keeps the body compressed when it is handed on unread, so the encoding must stay
    // declared (a Node-style "already decoded" adapter would drop it, and workerd would have to decode
    // the body; test/runtime/start-worker.test.ts checks the bytes on the wire).
    expect(response.headers.get('content-encoding')).toBe('gzip');
    const body = (await response.json()) as { compressed: boolean; filler: string };
    expect(body.compressed).toBe(true);
    expect(body.filler).toBe('token handler '.repeat(200));
  });

  it('answers an unknown path with the contract error, not the platform default', async () => {
    const response = await SELF.fetch(`${PUBLIC_ORIGIN}/oauth-agent/nope`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toMatchObject({ error_code: 'not_found' });
  });
});

describe('the Worker built in this isolate', () => {
  let stack: WorkerTestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('builds the app once and derives each sealing key once, however many requests follow', async () => {
    const worker = createWorker({ logSink: () => {} });
    const bindings = { ...stack.env };
    const app = worker.load(bindings);
    // Another bindings object (a new request) still gets the app built first: nothing is parsed again.
    expect(worker.load({ ...bindings })).toBe(app);
    const spa = new SpaClient({ request: (input, init) => worker.fetch(new Request(input, init), { ...bindings }) });

    expect(app.agent.sealer.derivations).toBe(0);
    expect((await spa.login()).status).toBe(200);
    // login (transaction), at, rt and id: one derivation per purpose for the one key.
    const afterLogin = app.agent.sealer.derivations;
    expect(afterLogin).toBe(4);
    for (let i = 0; i < 3; i++) {
      expect((await spa.json('GET', '/oauth-agent/session')).status).toBe(200);
      expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
      expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    }
    expect((await spa.login()).status).toBe(200);
    // …and one for the refresh results kept for coordination (contract §6.1), derived once too.
    expect(app.agent.sealer.derivations).toBe(afterLogin + 1);
  });

  it('streams a request body upstream through workerd fetch', async () => {
    const spa = new SpaClient(stack.app);
    await spa.login();
    const size = 256 * 1024;
    const echo = await spa.json('POST', '/api/echo', { body: 'x'.repeat(size), headers: { 'content-type': 'application/octet-stream' } });
    expect(echo.status).toBe(200);
    expect(echo.body).toMatchObject({ method: 'POST', path: '/api/echo', authorization: 'valid', body_size: size });
  });

  it('answers 502 upstream_unavailable when the API cannot be reached', async () => {
    const spa = new SpaClient(stack.makeApp({ TH_API_ROUTES: '/api=http://127.0.0.1:9/api' }));
    await spa.login();
    const res = await spa.json('GET', '/api/whoami');
    expect(res.status).toBe(502);
    expect(res.body['error_code']).toBe('upstream_unavailable');
    expect(res.response.headers.get('content-type')).toBe('application/json');
  });
});

describe('a bad configuration', () => {
  it('answers every request 500 with the bad variables named, their values never shown, and logs it once', async () => {
    const logs: string[] = [];
    const worker = createWorker({ logSink: (line) => logs.push(line) });
    const leakyValue = `client_secret_${randomSecret()}`;
    const bindings = {
      TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
      TH_CLIENT_ID: 'spa',
      TH_CLIENT_SECRET: randomSecret(),
      TH_COOKIE_KEYS: `k1:${randomSecret()}`,
      // Missing TH_ISSUER, a mistyped method whose value must not be echoed, and a short cookie key.
      TH_CLIENT_AUTH: leakyValue,
      TH_SESSION_LIFETIME: 'eight hours',
    };
    for (const path of ['/oauth-agent/session', '/api/anything', '/']) {
      const response = await worker.fetch(new Request(PUBLIC_ORIGIN + path, { method: 'POST' }), bindings);
      expect(response.status).toBe(500);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('cache-control')).toBe('no-store');
      const text = await response.text();
      const body = JSON.parse(text) as Record<string, string>;
      expect(body['error_code']).toBe('server_error');
      for (const name of ['TH_ISSUER', 'TH_CLIENT_AUTH', 'TH_SESSION_LIFETIME']) expect(body['detailed_error']).toContain(name);
      expect(body['detailed_error']).not.toContain('TH_COOKIE_KEYS');
      expect(text).not.toContain(leakyValue);
      expect(text).not.toContain('eight hours');
      expect(text).not.toMatch(/at .*\.(ts|js):\d+/);
    }
    expect(logs).toHaveLength(1);
    const line = JSON.parse(logs[0]!) as { level: string; msg: string; variables: string[] };
    expect(line).toMatchObject({ level: 'error', msg: 'config_invalid' });
    expect(line.variables.sort()).toEqual(['TH_CLIENT_AUTH', 'TH_ISSUER', 'TH_SESSION_LIFETIME']);
    expect(() => worker.load(bindings)).toThrow(/config_invalid/);
  });

  it("is what wrangler.toml's placeholders give until the required settings are set", async () => {
    // The committed [vars] leave the required settings empty on purpose.
    const worker = createWorker({ logSink: () => {} });
    const response = await worker.fetch(new Request(`${PUBLIC_ORIGIN}/oauth-agent/session`), { TH_PUBLIC_ORIGIN: '', TH_ISSUER: '', TH_CLIENT_ID: '' });
    expect(response.status).toBe(500);
    const body = (await response.json()) as Record<string, string>;
    for (const name of ['TH_PUBLIC_ORIGIN', 'TH_ISSUER', 'TH_CLIENT_ID', 'TH_COOKIE_KEYS', 'TH_CLIENT_SECRET']) expect(body['detailed_error']).toContain(name);
  });

  it('takes typed [vars] (TOML numbers and booleans) as their text', async () => {
    const worker = createWorker({ logSink: () => {} });
    const app = worker.load({
      TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
      TH_ISSUER: 'https://idp.example.test',
      TH_CLIENT_ID: 'spa',
      TH_CLIENT_SECRET: randomSecret(),
      TH_COOKIE_KEYS: `k1:${randomSecret()}`,
      TH_SESSION_LIFETIME: 3600,
      TH_USE_PAR: true,
      UNRELATED_BINDING: { get: () => 'a KV namespace, say' },
    });
    expect(app.agent).toBeDefined();
    const response = await worker.fetch(new Request(`${PUBLIC_ORIGIN}/oauth-agent/session`), {});
    expect((await response.json()) as unknown).toEqual({ is_logged_in: false });
  });
});
