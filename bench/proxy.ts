/**
 * The proxy benchmark (`npm run bench`; not part of `npm test`).
 *
 * One run, one request (a browser-like GET with the session cookie), three targets on loopback:
 *   (a) the upstream called directly;
 *   (b) through the token handler's Node server (createNodeTokenHandler's listener), with a
 *       session from a real login at the demo provider (its HTML forms, driven over HTTP); and
 *       (b') the same server on a public route to the same upstream, which skips only the unseal;
 *   (c) through a plain Node reverse proxy that only forwards: node:http + http.request with a
 *       keep-alive agent, the classic yardstick; and (c') the same with fetch, which is what the
 *       token handler forwards with, to tell the cost of the fetch API from the cost of our work;
 *       (c'') the same forwarder on undici's Pool, the faster yardstick (issue 15), and (b-node-http)
 *       the token handler's server with its other client (`upstreamClient: 'node-http'`; (b) runs
 *       the default, undici's Pool).
 * Load comes from autocannon. Then a tight loop over the proxy's own per-request functions
 * (path checks, unseal, header rewriting, a DPoP proof as TH_DPOP makes one per call, an
 * introspection cache hit) measures their CPU time per request.
 *
 * Phantom tokens (d): a second demo provider issuing opaque access tokens and two more token
 * handlers logged in there: (d) a route without introspection, (d') an `introspect` route whose
 * answers stay cached (TH_INTROSPECTION_CACHE_TTL=3600: every request a cache hit), and (d'') the
 * same with TH_INTROSPECTION_CACHE_TTL=0 (every request a miss: one introspection at the provider,
 * which runs in this parent process; its CPU is reported as `idp`).
 *
 * Fairness on a 2-core machine: the load generator would otherwise take CPU from whatever it
 * measures. When `taskset` exists, autocannon is pinned to CPU 0 and every server to CPU 1, so each
 * target gets the same single core: (a) the upstream alone, (b) token handler + upstream, (c) plain
 * proxy + upstream. Targets are measured in interleaved rounds; medians are reported. Each
 * process's CPU time is read from /proc to give CPU per request and show who was saturated.
 *
 * Settings (environment): BENCH_DURATION (s per measurement, default 6), BENCH_WARMUP (s, 2),
 * BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_LOOP (iterations of the CPU loop, 20000),
 * BENCH_METRICS (1: the token handler with its Prometheus metrics on).
 * Writes bench/results.json.
 */
import type { ChildProcess } from 'node:child_process';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CLIENT_ID, PATH, PUBLIC_ORIGIN, benchSettings, browserHeaders, startBenchProvider, cpus, load, login, median, pinning, pinningNote, round, spawnOnServerCpu, startRole, writeResults, type Run } from './harness.js';

const here = fileURLToPath(import.meta.url);

// --- child roles ------------------------------------------------------------------------------

type Stats = Record<string, number>;

/** Runs inside a child: listens on 127.0.0.1, reports its port over IPC, answers `stats` requests. */
async function child(role: string): Promise<void> {
  if (role === 'cpu-loop') {
    // Pinned like the servers, so its Web Crypto jobs run as they do there.
    if (!process.send) {
      // Alone (`npx tsx bench/proxy.ts cpu-loop`): a made-up configuration and a cookie sealed here, the figures printed.
      const { env, cookie } = await standaloneSession();
      console.log(JSON.stringify(await cpuLoop(env, cookie, Number(process.env['BENCH_LOOP'] ?? 20000)), null, 2));
      return;
    }
    const result = await cpuLoop(JSON.parse(process.env['BENCH_ENV']!) as Record<string, string>, process.env['BENCH_COOKIE']!, Number(process.env['BENCH_LOOP']));
    process.send({ result }, () => process.exit(0));
    return;
  }
  let stats: () => Stats = () => ({});
  let server: http.Server;
  if (role === 'upstream') {
    let requests = 0;
    let withBearer = 0;
    const body = JSON.stringify({ id: 42, status: 'shipped', items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }], total: '31.40', currency: 'EUR' });
    server = http.createServer((req, res) => {
      requests++;
      if (req.headers.authorization?.startsWith('Bearer ')) withBearer++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    stats = () => ({ requests, withBearer });
  } else if (role === 'token-handler') {
    // The real Node entry: the Node token handler's listener behind the adapter's own server.
    const { createNodeTokenHandler, startNodeServer } = await import('../src/adapters/node/server.js');
    const { parseConfig } = await import('../src/config/parse.js');
    let otherFetches = 0;
    // BENCH_METRICS=1: with the Prometheus metrics on, to measure their cost on the proxy path.
    const metrics = process.env['BENCH_METRICS'] === '1' ? (await import('../src/adapters/node/prometheus-metrics.js')).createPrometheusMetrics().metrics : undefined;
    // BENCH_UPSTREAM_CLIENT=node-http|undici: that client; otherwise the default, as production runs it.
    const client = process.env['BENCH_UPSTREAM_CLIENT'];
    const options = client === 'node-http' || client === 'undici' ? { upstreamClient: client as 'node-http' | 'undici' } : {};
    const app = createNodeTokenHandler(parseConfig(process.env), {
      ...(metrics ? { metrics } : {}),
      // API calls go through the adapter's own node:http client; this fetch is for the IdP only
      // (discovery, keys, token endpoint), and must not be called at all while proxying.
      fetch: (input, init) => {
        otherFetches++;
        return fetch(input, init);
      },
    }, options);
    const running = await startNodeServer(app.listener, { port: 0, hostname: '127.0.0.1' });
    serve(running.port, () => ({ otherFetches, derivations: app.agent.sealer.derivations }));
    return;
  } else if (role === 'plain-proxy') {
    const target = new URL(process.env['BENCH_UPSTREAM']!);
    const agent = new http.Agent({ keepAlive: true });
    server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      const headers = { ...req.headers, host: target.host };
      delete headers.connection;
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.writeHead(502).end());
      req.pipe(up);
    });
  } else if (role === 'plain-proxy-undici') {
    // (c''): the plain forwarder on undici's Pool (keep-alive), streaming both ways.
    const { Pool } = await import('undici');
    const pool = new Pool(process.env['BENCH_UPSTREAM']!);
    const hop = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect'];
    server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      const headers = { ...req.headers };
      for (const name of hop) delete headers[name];
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      pool.request({ path: req.url!, method: req.method as 'GET', headers, body: hasBody ? req : null }).then(
        (up) => {
          res.writeHead(up.statusCode, up.headers);
          up.body.pipe(res);
        },
        () => res.writeHead(502).end(),
      );
    });
  } else if (role === 'plain-proxy-fetch') {
    const upstream = process.env['BENCH_UPSTREAM']!;
    const hop = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding']);
    server = http.createServer(async (req: IncomingMessage, res: ServerResponse) => {
      const headers = new Headers();
      for (let i = 0; i < req.rawHeaders.length; i += 2) if (!hop.has(req.rawHeaders[i]!.toLowerCase())) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      try {
        const up = await fetch(upstream + req.url, { method: req.method!, headers, body: hasBody ? (Readable.toWeb(req) as ReadableStream) : null, redirect: 'manual', ...(hasBody ? { duplex: 'half' } : {}) } as RequestInit);
        const out: [string, string][] = [];
        up.headers.forEach((v, k) => hop.has(k) || out.push([k, v]));
        res.writeHead(up.status, out);
        if (up.body) Readable.fromWeb(up.body as never).pipe(res);
        else res.end();
      } catch {
        res.writeHead(502).end();
      }
    });
  } else {
    throw new Error(`unknown role ${role}`);
  }
  server.listen(0, '127.0.0.1', () => serve((server.address() as AddressInfo).port, stats));
}

/** Tells the parent the port, answers its `stats` requests, and ends with it. */
function serve(port: number, stats: () => Stats): void {
  process.send!({ port });
  process.on('message', (m) => {
    if (m === 'stats') process.send!({ stats: stats() });
  });
  process.on('disconnect', () => process.exit(0));
}

// --- orchestration ----------------------------------------------------------------------------

/** For the CPU loop alone: settings that need no provider, and an access-token cookie sealed with their key. */
async function standaloneSession(): Promise<{ env: Record<string, string>; cookie: string }> {
  const { randomBytes } = await import('node:crypto');
  const { parseConfig } = await import('../src/config/parse.js');
  const { createSealer } = await import('../src/core/session/cookie-seal.js');
  const { newSessionId } = await import('../src/core/session/session-cookies.js');
  const env = {
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: 'https://idp.example.test',
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: 'bench-secret',
    TH_COOKIE_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
    TH_API_ROUTES: '/api=http://127.0.0.1:9/api',
  };
  const config = parseConfig(env);
  const end = Math.floor(Date.now() / 1000) + 3600;
  // About the size of the demo provider's JWT access tokens.
  const token = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(400).toString('base64url')}.${randomBytes(256).toString('base64url')}`;
  const sealed = await createSealer(config.cookieKeys, Date.now).seal('at', { sid: newSessionId(), t: token, e: end }, end);
  return { env, cookie: `${config.cookieNames.at}=${sealed}` };
}

/** CPU time per call of the proxy's own per-request work, in microseconds, from a tight loop. */
async function cpuLoop(env: Record<string, string>, cookie: string, iterations: number) {
  const { parseConfig } = await import('../src/config/parse.js');
  const { createAgent } = await import('../src/core/agent/agent.js');
  const { parseCookieHeader } = await import('../src/core/session/cookie-table.js');
  const { filterUpstreamResponseHeaders, rewriteUpstreamRequest } = await import('../src/core/proxy/headers.js');
  const { assertSafePath } = await import('../src/core/proxy/path-safety.js');
  const { matchRoute } = await import('../src/core/proxy/routes.js');
  const { createSealer } = await import('../src/core/session/cookie-seal.js');
  const { nodeUnsealCrypto } = await import('../src/adapters/node/unseal-crypto.js');
  const { createCachingIntrospector } = await import('../src/core/oidc/introspection-cache.js');
  const { createHash } = await import('node:crypto');
  const config = parseConfig(env);
  const coreDeps = { fetch: () => Promise.reject(new Error('no network in the CPU loop')), now: Date.now };
  // node:crypto primitives as the Node server has them, and Web Crypto as on Workers, both without
  // the cache of opened cookies (every call a full unseal); then the cache as the server now runs it.
  const agent = createAgent(config, coreDeps, createSealer(config.cookieKeys, Date.now, nodeUnsealCrypto, false));
  const webAgent = createAgent(config, coreDeps, createSealer(config.cookieKeys, Date.now, undefined, false));
  const cachedAgent = createAgent(config, coreDeps, createSealer(config.cookieKeys, Date.now, nodeUnsealCrypto));
  const path = PATH.split('?')[0]!;
  const search = '?' + PATH.split('?')[1];
  const incoming = new Headers({ ...browserHeaders(cookie), host: 'www.example.test', connection: 'keep-alive' });
  const upstreamHeaders = new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': '120', date: new Date().toUTCString(), connection: 'keep-alive', 'keep-alive': 'timeout=5' });
  const match = matchRoute(config.apiRoutes, path)!;
  if (!(await agent.readAccessToken(parseCookieHeader(cookie)))) throw new Error('the session cookie does not unseal');

  const measure = async (fn: () => unknown) => {
    for (let i = 0; i < Math.min(2000, iterations); i++) await fn();
    const c0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) await fn();
    const c = process.cpuUsage(c0);
    return round((c.user + c.system) / iterations, 1);
  };
  const derivationsBefore = agent.sealer.derivations;
  const paths = await measure(() => {
    assertSafePath(path);
    return matchRoute(config.apiRoutes, path);
  });
  const unseal = await measure(() => agent.readAccessToken(parseCookieHeader(incoming.get('cookie'))));
  const unsealWebCrypto = await measure(() => webAgent.readAccessToken(parseCookieHeader(incoming.get('cookie'))));
  const unsealCached = await measure(() => cachedAgent.readAccessToken(parseCookieHeader(incoming.get('cookie'))));
  const at = (await agent.readAccessToken(parseCookieHeader(cookie)))!;
  const rewrite = await measure(() => rewriteUpstreamRequest({ method: 'GET', search, headers: incoming, clientIp: '127.0.0.1' }, match, `Bearer ${at.token}`, config, agent.names));
  const response = await measure(() => filterUpstreamResponseHeaders(upstreamHeaders, agent.names));
  // DPoP (TH_DPOP): one proof for a proxied call, with a session key imported once as the server keeps it.
  const { generateDpopKey } = await import('../src/core/oidc/dpop.js');
  const dpopKey = await generateDpopKey();
  const upstreamUrl = match.route.upstream + match.rest + search;
  const dpopProof = await measure(() => agent.oidc.dpop.proof(dpopKey, { htm: 'GET', url: upstreamUrl, accessToken: at.token }));
  // A cache hit as the Node server does it (node:crypto SHA-256 of the token, a map lookup), for a 1 KB JWT.
  const phantomJwt = 'x'.repeat(1024);
  const cache = createCachingIntrospector(
    { introspect: async () => ({ jwt: phantomJwt, exp: undefined }) },
    { ttlSeconds: 3600, now: Date.now, digest: (token) => createHash('sha256').update(token).digest('base64url') },
  );
  await cache.jwtFor(at.token);
  const introspectionHit = await measure(() => cache.jwtFor(at.token));
  const all = await measure(async () => {
    assertSafePath(path);
    const m = matchRoute(config.apiRoutes, path)!;
    const a = await agent.readAccessToken(parseCookieHeader(incoming.get('cookie')));
    rewriteUpstreamRequest({ method: 'GET', search, headers: incoming, clientIp: '127.0.0.1' }, m, `Bearer ${a!.token}`, config, agent.names);
    return filterUpstreamResponseHeaders(upstreamHeaders, agent.names);
  });
  return {
    iterations,
    us_per_request: { path_checks: paths, unseal, rewrite_request_headers: rewrite, filter_response_headers: response, total: all, unseal_with_web_crypto: unsealWebCrypto, unseal_cached: unsealCached, dpop_proof: dpopProof, introspection_cache_hit: introspectionHit },
    key_derivations_during_loop: agent.sealer.derivations - derivationsBefore,
  };
}

function runCpuLoop(env: Record<string, string>, cookie: string, iterations: number): Promise<Awaited<ReturnType<typeof cpuLoop>>> {
  const args = ['--import', 'tsx', here, 'cpu-loop'];
  const childEnv = { BENCH_ENV: JSON.stringify(env), BENCH_COOKIE: cookie, BENCH_LOOP: String(iterations) };
  const proc = spawnOnServerCpu(args, childEnv);
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.on('message', (m: { result?: Awaited<ReturnType<typeof cpuLoop>> }) => m.result && resolve(m.result));
    proc.once('exit', (code) => code !== 0 && reject(new Error(`cpu loop exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const seconds = Number(process.env['BENCH_DURATION'] ?? 6);
  const warmup = Number(process.env['BENCH_WARMUP'] ?? 2);
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
  const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
  const loopIterations = Number(process.env['BENCH_LOOP'] ?? 20000);

  const { provider, clientSecret } = await startBenchProvider();
  // The same client at a second provider that issues opaque access tokens (phantom tokens).
  const opaqueProvider = (await startBenchProvider({ opaqueAccessTokens: true, clientSecret })).provider;
  const children: ChildProcess[] = [];
  try {
    const upstream = await startRole(here, 'upstream');
    children.push(upstream.proc);
    const env = {
      ...benchSettings(provider.issuer, clientSecret, `/api=${upstream.url}/api,/pub=${upstream.url}/api`),
      // The same upstream as a public route: the same work minus the unseal, to see its cost in place.
      TH_API_ROUTE_OPTIONS: '/pub=public',
    };
    const tokenHandler = await startRole(here, 'token-handler', { ...env, BENCH_UPSTREAM: upstream.url });
    const plain = await startRole(here, 'plain-proxy', { BENCH_UPSTREAM: upstream.url });
    const plainFetch = await startRole(here, 'plain-proxy-fetch', { BENCH_UPSTREAM: upstream.url });
    const plainUndici = await startRole(here, 'plain-proxy-undici', { BENCH_UPSTREAM: upstream.url });
    const tokenHandlerNodeHttp = await startRole(here, 'token-handler', { ...env, BENCH_UPSTREAM_CLIENT: 'node-http' });
    // Phantom tokens: opaque tokens from the second provider; /plain without introspection for comparison.
    const phantomEnv = {
      ...env,
      TH_ISSUER: opaqueProvider.issuer,
      TH_API_ROUTES: `/api=${upstream.url}/api,/plain=${upstream.url}/api`,
      TH_API_ROUTE_OPTIONS: '/api=introspect',
      TH_INTROSPECTION_CACHE_TTL: '3600',
    };
    const phantom = await startRole(here, 'token-handler', phantomEnv);
    const phantomMiss = await startRole(here, 'token-handler', { ...phantomEnv, TH_INTROSPECTION_CACHE_TTL: '0' });
    children.push(tokenHandler.proc, plain.proc, plainFetch.proc, plainUndici.proc, tokenHandlerNodeHttp.proc, phantom.proc, phantomMiss.proc);

    const cookie = await login(tokenHandler.url);
    const headers = browserHeaders(cookie);
    const phantomHeaders = browserHeaders(await login(phantom.url));
    const phantomMissHeaders = browserHeaders(await login(phantomMiss.url));
    for (const [url, h] of [[phantom.url + PATH, phantomHeaders], [phantomMiss.url + PATH, phantomMissHeaders]] as const) {
      const answer = await fetch(url, { headers: h });
      if (answer.status !== 200) throw new Error(`the phantom token handler answered ${answer.status} to the benchmark request`);
      await answer.arrayBuffer();
    }
    // The proxied request must really carry a bearer token upstream, and answer 200.
    const probe = await fetch(tokenHandler.url + PATH, { headers });
    if (probe.status !== 200) throw new Error(`the token handler answered ${probe.status} to the benchmark request`);
    await probe.arrayBuffer();
    if ((await upstream.stats())['withBearer']! < 1) throw new Error('the upstream never saw a bearer token');
    const thBefore = await tokenHandler.stats();

    // The providers run in this process: its CPU during a run is theirs (and autocannon's parent, idle).
    const idp = { pid: process.pid } as ChildProcess;
    const targets = {
      a_direct: { url: upstream.url + PATH, headers, watch: { upstream: upstream.proc } },
      b_token_handler: { url: tokenHandler.url + PATH, headers, watch: { proxy: tokenHandler.proc, upstream: upstream.proc } },
      b_token_handler_node_http: { url: tokenHandlerNodeHttp.url + PATH, headers, watch: { proxy: tokenHandlerNodeHttp.proc, upstream: upstream.proc } },
      b_public_route: { url: tokenHandler.url + PATH.replace('/api/', '/pub/'), headers, watch: { proxy: tokenHandler.proc, upstream: upstream.proc } },
      c_plain_proxy: { url: plain.url + PATH, headers, watch: { proxy: plain.proc, upstream: upstream.proc } },
      c_plain_proxy_undici: { url: plainUndici.url + PATH, headers, watch: { proxy: plainUndici.proc, upstream: upstream.proc } },
      c_plain_proxy_fetch: { url: plainFetch.url + PATH, headers, watch: { proxy: plainFetch.proc, upstream: upstream.proc } },
      d_no_introspection: { url: phantom.url + PATH.replace('/api/', '/plain/'), headers: phantomHeaders, watch: { proxy: phantom.proc, upstream: upstream.proc } },
      d_introspect_hit: { url: phantom.url + PATH, headers: phantomHeaders, watch: { proxy: phantom.proc, upstream: upstream.proc, idp } },
      d_introspect_miss: { url: phantomMiss.url + PATH, headers: phantomMissHeaders, watch: { proxy: phantomMiss.proc, upstream: upstream.proc, idp } },
    };
    // BENCH_ONLY=b_token_handler,c_plain_proxy measures a subset (for quick comparisons; results.json then lacks the rest).
    const only = process.env['BENCH_ONLY']?.split(',');
    if (only) for (const name of Object.keys(targets)) if (!only.includes(name)) delete (targets as Record<string, unknown>)[name];
    const runs: Record<string, Run[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    console.log(`# ${rounds} rounds x ${Object.keys(targets).length} targets, ${seconds} s each after ${warmup} s warm-up, ${connections} connections; ${pinningNote}`);
    for (let round = 1; round <= rounds; round++) {
      for (const [name, t] of Object.entries(targets)) {
        if (warmup > 0) await load(t.url, t.headers, warmup, connections, {});
        const run = await load(t.url, t.headers, seconds, connections, t.watch);
        if (run.non2xx > 0 || run.errors > 0) throw new Error(`${name}: ${run.non2xx} non-2xx answers and ${run.errors} errors`);
        runs[name]!.push(run);
        console.log(`round ${round} ${name.padEnd(20)} ${String(run.rps).padStart(6)} req/s  p50 ${run.p50} ms  p99 ${run.p99} ms  cpu/req ${JSON.stringify(run.cpuPerRequestUs)} µs  cpu share ${JSON.stringify(run.cpuShare)}`);
      }
    }
    const thAfter = await tokenHandler.stats();

    const summary = Object.fromEntries(
      Object.entries(runs).map(([name, list]) => [
        name,
        {
          rps: median(list.map((r) => r.rps)),
          p50_ms: median(list.map((r) => r.p50)),
          p99_ms: median(list.map((r) => r.p99)),
          proxy_cpu_us_per_request: list[0]!.cpuPerRequestUs['proxy'] === undefined ? undefined : median(list.map((r) => r.cpuPerRequestUs['proxy']!)),
          upstream_cpu_us_per_request: median(list.map((r) => r.cpuPerRequestUs['upstream'] ?? 0)),
          ...(list[0]!.cpuPerRequestUs['idp'] !== undefined ? { idp_cpu_us_per_request: median(list.map((r) => r.cpuPerRequestUs['idp']!)) } : {}),
          autocannon_cpu_share: median(list.map((r) => r.cpuShare['autocannon'] ?? 0)),
          rounds_rps: list.map((r) => r.rps),
        },
      ]),
    ) as unknown as Record<keyof typeof targets, { rps: number; p50_ms: number; p99_ms: number; proxy_cpu_us_per_request?: number; upstream_cpu_us_per_request?: number }>;

    if (only) {
      for (const [name, sm] of Object.entries(summary)) console.log(`${name.padEnd(20)} ${String(sm.rps).padStart(6)} req/s  proxy CPU ${sm.proxy_cpu_us_per_request} µs/request`);
      return;
    }
    // Three runs of the CPU loop in fresh pinned processes; the median of each figure is kept.
    const loops: Awaited<ReturnType<typeof cpuLoop>>[] = [];
    for (let i = 0; i < 3; i++) loops.push(await runCpuLoop(env, cookie, loopIterations));
    const pick = (key: keyof (typeof loops)[number]['us_per_request']) => median(loops.map((l) => l.us_per_request[key]));
    const loop = {
      iterations: loopIterations,
      runs: loops.length,
      us_per_request: {
        path_checks: pick('path_checks'),
        unseal: pick('unseal'),
        rewrite_request_headers: pick('rewrite_request_headers'),
        filter_response_headers: pick('filter_response_headers'),
        total: pick('total'),
        unseal_with_web_crypto: pick('unseal_with_web_crypto'),
        unseal_cached: pick('unseal_cached'),
        dpop_proof: pick('dpop_proof'),
        introspection_cache_hit: pick('introspection_cache_hit'),
      },
      key_derivations_during_loop: Math.max(...loops.map((l) => l.key_derivations_during_loop)),
    };
    const ratios = {
      b_over_a: round(summary.b_token_handler.rps / summary.a_direct.rps),
      b_over_c: round(summary.b_token_handler.rps / summary.c_plain_proxy.rps),
      b_over_c_fetch: round(summary.b_token_handler.rps / summary.c_plain_proxy_fetch.rps),
      b_over_c_undici: round(summary.b_token_handler.rps / summary.c_plain_proxy_undici.rps),
      b_node_http_over_c: round(summary.b_token_handler_node_http.rps / summary.c_plain_proxy.rps),
      b_node_http_over_c_undici: round(summary.b_token_handler_node_http.rps / summary.c_plain_proxy_undici.rps),
      c_undici_over_c: round(summary.c_plain_proxy_undici.rps / summary.c_plain_proxy.rps),
    };
    // The same ratios from CPU time per request (proxy + upstream sharing one core): what throughput
    // would be on a saturated core, less sensitive to other load on the machine than req/s.
    const cpuOf = (t: { proxy_cpu_us_per_request?: number; upstream_cpu_us_per_request?: number }) => (t.proxy_cpu_us_per_request ?? 0) + (t.upstream_cpu_us_per_request ?? 0);
    const cpuBoundRatios = {
      b_over_c: round(cpuOf(summary.c_plain_proxy) / cpuOf(summary.b_token_handler)),
      b_over_c_fetch: round(cpuOf(summary.c_plain_proxy_fetch) / cpuOf(summary.b_token_handler)),
      b_over_c_undici: round(cpuOf(summary.c_plain_proxy_undici) / cpuOf(summary.b_token_handler)),
      b_node_http_over_c: round(cpuOf(summary.c_plain_proxy) / cpuOf(summary.b_token_handler_node_http)),
      b_node_http_over_c_undici: round(cpuOf(summary.c_plain_proxy_undici) / cpuOf(summary.b_token_handler_node_http)),
    };
    // Phantom tokens: what introspection adds to the same token handler's route without it.
    const proxyCpu = (t: { proxy_cpu_us_per_request?: number }) => t.proxy_cpu_us_per_request ?? 0;
    const introspection = {
      hit_cost_us: round(proxyCpu(summary.d_introspect_hit) - proxyCpu(summary.d_no_introspection), 1),
      miss_cost_us: round(proxyCpu(summary.d_introspect_miss) - proxyCpu(summary.d_no_introspection), 1),
      hit_over_no_introspection: round(summary.d_introspect_hit.rps / summary.d_no_introspection.rps),
      hit_over_c: round(summary.d_introspect_hit.rps / summary.c_plain_proxy.rps),
      miss_over_c: round(summary.d_introspect_miss.rps / summary.c_plain_proxy.rps),
    };
    const results = {
      command: 'npm run bench',
      date: new Date().toISOString(),
      machine: { cpus, model: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
      settings: { seconds, warmup, rounds, connections, pinning: pinning ? 'autocannon CPU 0, servers CPU 1' : 'none', request: `GET ${PATH}`, log_level: 'info (one JSON line per request, to a discarded stdout)' },
      results: summary,
      ratios,
      cpu_bound_ratios: cpuBoundRatios,
      cookie_work_cpu: loop,
      introspection,
      // The session's cost inside the running server: CPU per request with a session minus on a public route.
      session_cpu_in_server_us: summary.b_token_handler.proxy_cpu_us_per_request! - summary.b_public_route.proxy_cpu_us_per_request!,
      checks: {
        // Nothing on the proxy path fetched discovery or keys, or derived cookie keys again.
        other_fetches_while_proxying: thAfter['otherFetches']! - thBefore['otherFetches']!,
        key_derivations_while_proxying: thAfter['derivations']! - thBefore['derivations']!,
      },
      targets: {
        cookie_work_under_0_2_ms: loop.us_per_request.total < 200,
        dpop_proof_under_0_2_ms: loop.us_per_request.dpop_proof < 200,
        b_over_c_at_least_0_9: ratios.b_over_c >= 0.9,
        b_over_c_undici_at_least_0_75: ratios.b_over_c_undici >= 0.75,
        introspection_hit_under_10_us: introspection.hit_cost_us < 10,
      },
    };
    // Other benchmarks' keys (sharedState, changes) stay as they are.
    writeResults(results);
    console.log('');
    for (const [name, s] of Object.entries(summary)) console.log(`${name.padEnd(20)} ${String(s.rps).padStart(6)} req/s  p50 ${s.p50_ms} ms  p99 ${s.p99_ms} ms${s.proxy_cpu_us_per_request !== undefined ? `  proxy CPU ${s.proxy_cpu_us_per_request} µs/request` : ''}`);
    console.log(`b/a ${ratios.b_over_a}  b/c ${ratios.b_over_c}  b/c' (fetch) ${ratios.b_over_c_fetch}   from CPU per request: b/c ${cpuBoundRatios.b_over_c}  b/c' ${cpuBoundRatios.b_over_c_fetch}`);
    console.log(`undici: b/c'' ${ratios.b_over_c_undici}  c''/c ${ratios.c_undici_over_c}; the node:http client: b-node-http/c ${ratios.b_node_http_over_c}  b-node-http/c'' ${ratios.b_node_http_over_c_undici}   from CPU per request: b/c'' ${cpuBoundRatios.b_over_c_undici}  b-node-http/c ${cpuBoundRatios.b_node_http_over_c}`);
    console.log(`cookie work, CPU per request (µs): ${JSON.stringify(loop.us_per_request)}; in the server, a session route costs ${results.session_cpu_in_server_us} µs more than a public one`);
    console.log(`phantom tokens: a cache hit costs ${introspection.hit_cost_us} µs of proxy CPU, a miss ${introspection.miss_cost_us} µs (plus the provider's); hit/c ${introspection.hit_over_c}, miss/c ${introspection.miss_over_c}`);
    console.log(`checks: ${JSON.stringify(results.checks)}  targets: ${JSON.stringify(results.targets)}`);
    console.log('wrote bench/results.json');
  } finally {
    for (const c of children) c.kill();
    await provider.close();
    await opaqueProvider.close();
  }
}

const role = process.argv[2];
if (role) await child(role);
else await main();
