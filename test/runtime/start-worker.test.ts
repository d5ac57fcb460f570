// `npm run start:worker` (examples/start-worker.ts) over real HTTP on random ports: the same stack as
// `npm start`, with the token handler in workerd under `wrangler dev`. One login, API call, refresh
// and logout through the SPA's origin proves the wiring, and that several Set-Cookie headers come out
// of the real workerd HTTP stack as separate lines; a compressed upstream answer is checked byte for
// byte on the wire. (The protocol checks themselves run inside workerd in the workerd project; this
// file is about the local stack and wrangler dev.)

import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, DEMO_CREDENTIALS, type Stack } from '../../examples/start.js';
import { startWorker, type RunningWorker } from '../../examples/start-worker.js';
import { TestBrowser, loginAtProvider } from '../helpers/browser.js';
import { startCompressingUpstream } from './workers/compressing-upstream.js';

/** One GET over plain node:http, so the body is seen as it came over the wire (fetch would decode it). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

describe('npm run start:worker', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let compressing: Awaited<ReturnType<typeof startCompressingUpstream>>;

  beforeAll(async () => {
    compressing = await startCompressingUpstream();
    stack = await startStack({
      // As `npm run start:worker` starts it: the Durable Object store, back-channel logout on.
      platform: 'workers',
      ports: { spa: 0, provider: 0, api: 0 },
      env: {},
      quiet: true,
      // The stack's settings plus a public route to an upstream that compresses its answers.
      tokenHandler: async (settings, config) =>
        (worker = await startWorker(
          { ...settings, TH_API_ROUTES: `${settings['TH_API_ROUTES']},/compressed=${compressing.url}`, TH_API_ROUTE_OPTIONS: '/compressed=public' },
          config,
          { port: 0, quiet: true },
        )),
    });
  }, 90_000);
  afterAll(async () => {
    await stack?.close();
    await compressing?.close();
  });

  it('serves the token handler from wrangler dev', async () => {
    expect(worker.description).toBe(`workerd via wrangler dev on ${worker.url}`);
    const direct = await fetch(`${worker.url}${stack.config.agentPath}/session`);
    expect(direct.headers.get('content-type')).toBe('application/json');
    expect(await direct.json()).toEqual({ is_logged_in: false });
  });

  it("hands a gzip-encoded upstream body to the client byte for byte, still encoded (Workers' fetch does not decode it)", async () => {
    const raw = await rawGet(`${worker.url}/compressed/report`, { 'accept-encoding': 'gzip' });
    expect(raw.status).toBe(200);
    expect(raw.headers['content-encoding']).toBe('gzip');
    // Passed through, not decoded and compressed again: the upstream's own bytes and length. (A
    // Node-style adapter that drops Content-Encoding gets the body re-compressed by workerd, sent
    // chunked without a length.)
    expect(raw.body.equals(compressing.body)).toBe(true);
    expect(raw.headers['content-length']).toBe(String(compressing.body.length));
    const decoded = JSON.parse(gunzipSync(raw.body).toString('utf8')) as { compressed: boolean; filler: string };
    expect(decoded).toEqual({ compressed: true, filler: 'token handler '.repeat(200) });
  });

  it('logs in, calls the API, refreshes and logs out through the SPA origin', async () => {
    const browser = new TestBrowser();
    const post = { 'token-handler-version': '1', origin: stack.urls.origin, 'sec-fetch-site': 'same-origin' };

    const start = await browser.fetch('POST', `${stack.urls.agent}/login/start`, '', post);
    expect(start.status).toBe(200);
    const { authorization_url } = (await start.json()) as { authorization_url: string };
    const callback = await loginAtProvider(browser, authorization_url, { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });
    const end = await browser.fetch('POST', `${stack.urls.agent}/login/end`, callback.searchParams.toString(), {
      ...post,
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(end.status).toBe(200);
    expect(((await end.json()) as { is_logged_in: boolean }).is_logged_in).toBe(true);
    // Session cookies set and the transaction cleared: four lines, none folded into another.
    const lines = end.headers.getSetCookie();
    expect(lines.map((l) => l.split('=')[0]!.replace(/^__Host-th-login-[A-Za-z0-9_-]{12}$/, '__Host-th-login-<id>')).sort()).toEqual(['__Host-th-at', '__Host-th-login-<id>', '__Secure-th-id', '__Secure-th-rt']);

    const whoami = await browser.fetch('GET', `${stack.urls.origin}/api/whoami`);
    expect(((await whoami.json()) as { sub: string }).sub).toBe('demo');
    // The client address reaches the API as Cloudflare's edge would report it, via CF-Connecting-IP.
    const echo = (await (await browser.fetch('GET', `${stack.urls.origin}/api/echo`, undefined, { 'x-forwarded-for': '198.51.100.66' })).json()) as {
      headers: Record<string, string>;
    };
    expect(echo.headers['x-forwarded-for']).toMatch(/127\.0\.0\.1$/);

    const refresh = await browser.fetch('POST', `${stack.urls.agent}/refresh`, '', post);
    expect(refresh.status).toBe(200);
    const logout = await browser.fetch('POST', `${stack.urls.agent}/logout`, '', post);
    expect(logout.status).toBe(200);
    expect(((await logout.json()) as { logout_url: string }).logout_url).toContain(`${stack.urls.issuer}/session/end`);
    const after = await browser.fetch('GET', `${stack.urls.agent}/session`);
    expect(await after.json()).toEqual({ is_logged_in: false });
  });
});
