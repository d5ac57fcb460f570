/**
 * Lambda@Edge on a warm container: CPU µs per origin-request event (`npx tsx bench/lambda-edge-cpu.ts`;
 * not part of `npm test`, a single process, fine on a busy machine).
 *
 * One process builds the edge handler (createEdgeHandler, as the bundle does) three times, one
 * change at a time, and drives each with the same CloudFront events in interleaved batches:
 *   - web:   Web Crypto unsealing, no cache (the handler before issue 15);
 *   - node:  node:crypto unsealing, no cache;
 *   - cache: node:crypto unsealing and the sealer's cache of opened cookies (the default now).
 * Events: a proxied API call with a session's access-token cookie (the request handed back to
 * CloudFront), `GET /oauth-agent/session` with the session's three cookies, and a public API route
 * (no cookie opened: the event conversion and pipeline alone). Each figure is the median over
 * BENCH_BATCHES batches of BENCH_BATCH events of process CPU (user + system) per event.
 */
import { randomBytes } from 'node:crypto';
import { createEdgeHandler, type EdgeHandler, type EdgeHandlerOptions } from '../src/adapters/lambda-edge/handler.js';
import { nodeUnsealCrypto } from '../src/adapters/node/unseal-crypto.js';
import { parseConfig } from '../src/config/parse.js';
import { createSealer } from '../src/core/session/cookie-seal.js';
import { newSessionId } from '../src/core/session/session-cookies.js';

const BATCHES = Number(process.env['BENCH_BATCHES'] ?? 41);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 200);
const PUBLIC_ORIGIN = 'https://www.example.test';

const settings = {
  TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
  TH_ISSUER: 'https://idp.example.test',
  TH_CLIENT_ID: 'bench',
  TH_CLIENT_SECRET: 'bench-secret',
  TH_COOKIE_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
  TH_API_ROUTES: '/api=https://api.example.com/v1,/pub=https://api.example.com/v1',
  TH_API_ROUTE_OPTIONS: '/pub=public',
};

type Headers = Record<string, { key: string; value: string }[]>;
const event = (method: string, uri: string, cookie?: string) => {
  const headers: Headers = {
    host: [{ key: 'Host', value: 'origin.example.test' }],
    accept: [{ key: 'Accept', value: 'application/json' }],
    'user-agent': [{ key: 'User-Agent', value: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36' }],
    'token-handler-version': [{ key: 'Token-Handler-Version', value: '1' }],
    origin: [{ key: 'Origin', value: PUBLIC_ORIGIN }],
    'x-forwarded-for': [{ key: 'X-Forwarded-For', value: '203.0.113.178' }],
    via: [{ key: 'Via', value: '2.0 8f22423015641505b8c857a37450d6c0.cloudfront.net (CloudFront)' }],
    ...(cookie ? { cookie: [{ key: 'Cookie', value: cookie }] } : {}),
  };
  return {
    Records: [
      {
        cf: {
          config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'EDFDVBD6EXAMPLE', eventType: 'origin-request' as const, requestId: 'bench' },
          request: {
            clientIp: '203.0.113.178',
            method,
            uri,
            querystring: 'page=2',
            headers,
            origin: { custom: { customHeaders: {}, domainName: 'origin.example.test', keepaliveTimeout: 5, path: '', port: 443, protocol: 'https' as const, readTimeout: 30, sslProtocols: ['TLSv1.2'] } },
          },
        },
      },
    ],
  };
};

async function main(): Promise<void> {
  const config = parseConfig(settings);
  const names = config.cookieNames;
  const sealer = createSealer(config.cookieKeys, Date.now, nodeUnsealCrypto);
  const sid = newSessionId();
  const end = Math.floor(Date.now() / 1000) + 3600;
  // A realistic access token: a signed JWT of ~900 characters.
  const accessToken = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(400).toString('base64url')}.${randomBytes(256).toString('base64url')}`;
  const at = `${names.at}=${await sealer.seal('at', { sid, t: accessToken, e: end, s: 'openid profile' }, end)}`;
  const rt = `${names.rt}=${await sealer.seal('rt', { sid, t: randomBytes(48).toString('base64url') }, end)}`;
  const id = `${names.id}=${await sealer.seal('id', { sid, sub: 'demo', c: { sub: 'demo', name: 'Demo User', email: 'demo@example.test', iss: settings.TH_ISSUER } }, end)}`;
  const events = {
    proxied: () => event('GET', '/api/orders', `${at}; theme=dark`),
    session: () => event('GET', '/oauth-agent/session', `${at}; ${rt}; ${id}`),
    public: () => event('GET', '/pub/orders'),
  };
  const variants: Record<string, Partial<EdgeHandlerOptions>> = { web: { unsealCrypto: null, unsealCache: false }, node: { unsealCache: false }, cache: {} };
  const handlers: Record<string, EdgeHandler> = {};
  for (const [name, options] of Object.entries(variants)) handlers[name] = createEdgeHandler({ settings, logSink: () => {}, ...options });

  // Check every answer once: the proxied call carries the token upstream, /session says logged in.
  for (const [name, handler] of Object.entries(handlers)) {
    const proxied = (await handler(events.proxied())) as { headers?: Headers; status?: string; body?: string };
    if (proxied.headers?.['authorization']?.[0]?.value !== `Bearer ${accessToken}`) throw new Error(`${name}: the proxied event was not handed on with the token: ${JSON.stringify(proxied).slice(0, 300)}`);
    const session = (await handler(events.session())) as { status?: string; body?: string };
    if (session.status !== '200' || !session.body?.includes('"is_logged_in":true')) throw new Error(`${name}: /session answered ${session.status} ${session.body}`);
    if (((await handler(events.public())) as { uri?: string }).uri === undefined) throw new Error(`${name}: the public event was not handed on`);
  }

  const samples: Record<string, number[]> = {};
  const run = async (key: string, handler: EdgeHandler, make: () => ReturnType<typeof event>) => {
    const batch = Array.from({ length: BATCH }, make);
    const c0 = process.cpuUsage();
    for (const e of batch) await handler(e);
    const c = process.cpuUsage(c0);
    (samples[key] ??= []).push((c.user + c.system) / BATCH);
  };
  // Warm-up, then interleaved batches so every variant sees the same machine.
  for (let round = -3; round < BATCHES; round++) {
    for (const [name, handler] of Object.entries(handlers)) {
      for (const [kind, make] of Object.entries(events)) await run(round < 0 ? 'warmup' : `${kind}/${name}`, handler, make);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(`Lambda@Edge handler, warm container, CPU µs per origin-request event (node ${process.version}; median of ${BATCHES} batches of ${BATCH})`);
  console.log(`  ${'event'.padEnd(10)} ${'web crypto'.padStart(11)} ${'node:crypto'.padStart(12)} ${'+ cache'.padStart(9)}`);
  for (const kind of Object.keys(events)) {
    const f = (name: string) => median(samples[`${kind}/${name}`]!).toFixed(0).padStart(name === 'web' ? 11 : name === 'node' ? 12 : 9);
    console.log(`  ${kind.padEnd(10)} ${f('web')} ${f('node')} ${f('cache')}`);
  }
  console.log(`Reproduce: npx tsx bench/lambda-edge-cpu.ts   (BENCH_BATCHES=${BATCHES} BENCH_BATCH=${BATCH})`);
}

await main();
