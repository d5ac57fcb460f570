/**
 * The shared-state benchmark (`npm run bench:shared-state`; `npm run bench` runs it after
 * bench/proxy.ts; not part of `npm test`). What a Redis session store with back-channel logout
 * costs (issue 12, "Targets"), against a real redis-server on a free loopback port:
 *
 * - Proxied requests under autocannon, the request and upstream of bench/proxy.ts, three token
 *   handlers logged in at the demo provider: `memory` (the Node default, as bench/proxy.ts's (b):
 *   the proxy without a shared store), `redis` (TH_SESSION_STORE=redis://…, TH_BACKCHANNEL_LOGOUT
 *   on, the default TH_REVOCATION_CACHE_TTL) and `redis_no_cache` (the same with
 *   TH_REVOCATION_CACHE_TTL=0: a round of store reads on every request, the worst case). Redis's
 *   `INFO commandstats` before and after each run counts the store operations; the bound is one
 *   round of revocation reads per session per TH_REVOCATION_CACHE_TTL per instance.
 * - CPU per request of the token handler (and of redis-server) from /proc, and its ratio to `memory`.
 * - Refresh: sequential refreshes of one session with Redis and with the memory store (the
 *   latency Redis adds to a coordinated refresh, and its store operations), and N concurrent
 *   refreshes of one session (all must answer 200 with one refresh at the provider).
 *
 * Fairness as in bench/proxy.ts: with `taskset`, autocannon runs on CPU 0 and the token handler,
 * the upstream and redis-server on CPU 1; targets are measured in interleaved rounds, medians kept.
 *
 * Settings (environment): BENCH_DURATION (s per measurement, default 6), BENCH_WARMUP (s, 2),
 * BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_REFRESHES (sequential refreshes per store, 20),
 * BENCH_REFRESH_CONCURRENCY (20), BENCH_REFRESH_ROUNDS (rounds of concurrent refreshes, 5).
 * Merges its figures into bench/results.json under `sharedState`.
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { PATH, PUBLIC_ORIGIN, benchSettings, browserHeaders, startBenchProvider, cpus, load, median, pinToServerCpu, pinning, round, startRole, writeResults, type Run } from './harness.js';

const AGENT = '/oauth-agent';
const here = fileURLToPath(import.meta.url);
/** The store reads of one revocation check with back-channel logout on: the session, its IdP `sid`, its `sub` (src/core/session/revocation.ts). */
const READS_PER_ROUND = 3;

// --- child roles ------------------------------------------------------------------------------

async function child(role: string): Promise<void> {
  if (role === 'upstream') {
    // bench/proxy.ts's upstream: the same answer.
    const body = JSON.stringify({ id: 42, status: 'shipped', items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }], total: '31.40', currency: 'EUR' });
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => serve((server.address() as AddressInfo).port));
  } else if (role === 'token-handler') {
    // The real Node entry; TH_SESSION_STORE from the environment opens the store, as in production.
    const { createNodeTokenHandler, startNodeServer } = await import('../src/adapters/node/server.js');
    const { parseConfig } = await import('../src/config/parse.js');
    const app = createNodeTokenHandler(parseConfig(process.env));
    const running = await startNodeServer(app.listener, { port: 0, hostname: '127.0.0.1' });
    serve(running.port);
  } else {
    throw new Error(`unknown role ${role}`);
  }
}

function serve(port: number): void {
  process.send!({ port });
  process.on('disconnect', () => process.exit(0));
}

// --- a session: its cookies, kept up to date across refreshes ----------------------------------

const AGENT_HEADERS = { 'token-handler-version': '1', origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded' };

class Session {
  readonly cookies = new Map<string, { value: string; path: string }>();

  constructor(readonly tokenHandler: string) {}

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const attr = (key: string) => attributes.find((a) => a.toLowerCase().startsWith(`${key}=`))?.split('=')[1];
      if (Number(attr('max-age') ?? '1') <= 0) this.cookies.delete(pair!.slice(0, eq));
      else this.cookies.set(pair!.slice(0, eq), { value: pair!.slice(eq + 1), path: attr('path') ?? '/' });
    }
  }

  /** The Cookie header a browser sends on `path`. */
  cookieHeader(path: string): string {
    return [...this.cookies].filter(([, c]) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)).map(([name, c]) => `${name}=${c.value}`).join('; ');
  }

  /** Logs in for real: login/start, the provider's forms, login/end. */
  async login(): Promise<void> {
    const { TestBrowser, loginAtProvider } = await import('../test/helpers/browser.js');
    const start = await fetch(`${this.tokenHandler}${AGENT}/login/start`, { method: 'POST', headers: AGENT_HEADERS, body: '' });
    if (start.status !== 200) throw new Error(`login/start answered ${start.status}`);
    this.store(start.headers.getSetCookie());
    const { authorization_url } = (await start.json()) as { authorization_url: string };
    const callback = await loginAtProvider(new TestBrowser(), authorization_url, { username: 'demo', password: 'demo', redirectUri: `${PUBLIC_ORIGIN}/` });
    const end = await fetch(`${this.tokenHandler}${AGENT}/login/end`, { method: 'POST', headers: { ...AGENT_HEADERS, cookie: this.cookieHeader(`${AGENT}/login/end`) }, body: new URLSearchParams(callback.searchParams).toString() });
    if (end.status !== 200 || !((await end.json()) as { is_logged_in?: boolean }).is_logged_in) throw new Error(`login/end answered ${end.status}`);
    this.store(end.headers.getSetCookie());
  }

  /** One POST /refresh with the cookies of now; its status, wall time (ms) and new cookies. */
  async refresh(): Promise<{ status: number; ms: number; setCookies: string[] }> {
    const started = performance.now();
    const response = await fetch(`${this.tokenHandler}${AGENT}/refresh`, { method: 'POST', headers: { ...AGENT_HEADERS, cookie: this.cookieHeader(`${AGENT}/refresh`) }, body: '' });
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - started, setCookies: response.headers.getSetCookie() };
  }
}

// --- Redis's own counts -----------------------------------------------------------------------

type CommandCalls = Record<string, number>;

/** Calls per command from INFO commandstats, without INFO itself (the counting). */
async function commandCalls(redis: { cli(...command: string[]): Promise<string> }): Promise<CommandCalls> {
  const calls: CommandCalls = {};
  for (const line of (await redis.cli('INFO', 'commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match && match[1] !== 'info') calls[match[1]!] = Number(match[2]);
  }
  return calls;
}

function callsBetween(before: CommandCalls, after: CommandCalls): CommandCalls {
  const out: CommandCalls = {};
  for (const [name, n] of Object.entries(after)) if (n - (before[name] ?? 0) > 0) out[name] = n - (before[name] ?? 0);
  return out;
}

const sum = (calls: CommandCalls) => Object.values(calls).reduce((a, b) => a + b, 0);

// --- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const seconds = Number(process.env['BENCH_DURATION'] ?? 6);
  const warmup = Number(process.env['BENCH_WARMUP'] ?? 2);
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
  const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
  const refreshes = Number(process.env['BENCH_REFRESHES'] ?? 20);
  const concurrency = Number(process.env['BENCH_REFRESH_CONCURRENCY'] ?? 20);
  const refreshRounds = Number(process.env['BENCH_REFRESH_ROUNDS'] ?? 5);
  const cacheTtl = 5; // TH_REVOCATION_CACHE_TTL's default, set explicitly so the bound below is the one in force

  const { RedisServer } = await import('../test/stores/redis-server.js');
  const redis = await RedisServer.start();
  const redisPid = Number(/process_id:(\d+)/.exec(await redis.cli('INFO', 'server'))?.[1]);
  // redis-server with the servers, every thread of it.
  pinToServerCpu(redisPid);
  // A back-channel logout URI as a deployment registers it: the provider puts `sid` in the ID token, the token handler keeps it.
  const { provider, clientSecret } = await startBenchProvider({ backchannelLogoutUri: `${PUBLIC_ORIGIN}${AGENT}/backchannel-logout` });
  // Refreshes that reached the provider (it runs in this process).
  let providerRefreshes = 0;
  provider.provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') providerRefreshes++;
  });
  const children: ChildProcess[] = [];
  try {
    const upstream = await startRole(here, 'upstream');
    children.push(upstream.proc);
    const env = benchSettings(provider.issuer, clientSecret, `/api=${upstream.url}/api`);
    const withRedis = { ...env, TH_SESSION_STORE: redis.url, TH_BACKCHANNEL_LOGOUT: 'on', TH_REVOCATION_CACHE_TTL: String(cacheTtl) };
    const handlers = {
      memory: await startRole(here, 'token-handler', env),
      redis: await startRole(here, 'token-handler', withRedis),
      redis_no_cache: await startRole(here, 'token-handler', { ...withRedis, TH_REVOCATION_CACHE_TTL: '0' }),
    };
    children.push(...Object.values(handlers).map((h) => h.proc));
    const sessions = Object.fromEntries(Object.entries(handlers).map(([name, h]) => [name, new Session(h.url)])) as Record<keyof typeof handlers, Session>;
    for (const session of Object.values(sessions)) await session.login();
    for (const [name, session] of Object.entries(sessions)) {
      const probe = await fetch(session.tokenHandler + PATH, { headers: browserHeaders(session.cookieHeader('/api')) });
      if (probe.status !== 200) throw new Error(`${name}: the token handler answered ${probe.status} to the benchmark request`);
      await probe.arrayBuffer();
    }

    // --- proxied requests ---
    const runs: Record<string, (Run & { storeCalls: CommandCalls })[]> = Object.fromEntries(Object.keys(handlers).map((k) => [k, []]));
    console.log(`# shared state: ${rounds} rounds x ${Object.keys(handlers).length} targets, ${seconds} s each after ${warmup} s warm-up, ${connections} connections, one session each; ${pinning ? 'autocannon on CPU 0, servers and redis-server on CPU 1' : 'no CPU pinning'}`);
    for (let r = 1; r <= rounds; r++) {
      for (const [name, h] of Object.entries(handlers)) {
        const headers = browserHeaders(sessions[name as keyof typeof handlers].cookieHeader('/api'));
        if (warmup > 0) await load(h.url + PATH, headers, warmup, connections, {});
        const before = await commandCalls(redis);
        const run = await load(h.url + PATH, headers, seconds, connections, { proxy: h.proc, upstream: upstream.proc, redis: { pid: redisPid } });
        const storeCalls = callsBetween(before, await commandCalls(redis));
        if (run.non2xx > 0 || run.errors > 0) throw new Error(`${name}: ${run.non2xx} non-2xx answers and ${run.errors} errors`);
        runs[name]!.push({ ...run, storeCalls });
        console.log(`round ${r} ${name.padEnd(15)} ${String(run.rps).padStart(6)} req/s  p50 ${run.p50} ms  p99 ${run.p99} ms  cpu/req ${JSON.stringify(run.cpuPerRequestUs)} µs  store ${JSON.stringify(storeCalls)}`);
      }
    }
    // One session per target and one instance: the bound is a round of reads per TTL, plus the one the window opens in.
    const allowedOps = READS_PER_ROUND * (Math.ceil(seconds / cacheTtl) + 1);
    const proxied = Object.fromEntries(
      Object.entries(runs).map(([name, list]) => [
        name,
        {
          rps: median(list.map((r) => r.rps)),
          p50_ms: median(list.map((r) => r.p50)),
          p99_ms: median(list.map((r) => r.p99)),
          proxy_cpu_us_per_request: median(list.map((r) => r.cpuPerRequestUs['proxy'] ?? 0)),
          upstream_cpu_us_per_request: median(list.map((r) => r.cpuPerRequestUs['upstream'] ?? 0)),
          redis_cpu_us_per_request: median(list.map((r) => r.cpuPerRequestUs['redis'] ?? 0)),
          store_ops_per_run: median(list.map((r) => sum(r.storeCalls))),
          store_ops_per_request: round(median(list.map((r) => sum(r.storeCalls) / r.requests)), 6),
          store_commands: list[list.length - 1]!.storeCalls,
          rounds_rps: list.map((r) => r.rps),
        },
      ]),
    ) as unknown as Record<keyof typeof handlers, { rps: number; p50_ms: number; p99_ms: number; proxy_cpu_us_per_request: number; redis_cpu_us_per_request: number; store_ops_per_run: number; store_ops_per_request: number }>;
    const maxOpsWithCache = Math.max(...runs['redis']!.map((r) => sum(r.storeCalls)));

    // --- refresh ---
    const refreshStats = async (name: 'memory' | 'redis') => {
      const session = sessions[name];
      const latencies: number[] = [];
      const before = await commandCalls(redis);
      const idpBefore = providerRefreshes;
      for (let i = 0; i < refreshes; i++) {
        const answer = await session.refresh();
        if (answer.status !== 200) throw new Error(`${name}: refresh answered ${answer.status}`);
        session.store(answer.setCookies);
        latencies.push(answer.ms);
      }
      const calls = callsBetween(before, await commandCalls(redis));
      return { p50_ms: round(median(latencies), 2), max_ms: round(Math.max(...latencies), 2), store_ops_per_refresh: round(sum(calls) / refreshes, 2), store_commands: calls, provider_refreshes: providerRefreshes - idpBefore };
    };
    const concurrentStats = async (name: 'memory' | 'redis') => {
      const session = sessions[name];
      const all: number[] = [];
      const slowest: number[] = [];
      const single: number[] = [];
      let idpPerRound = 0;
      for (let r = 0; r < refreshRounds; r++) {
        // One refresh alone first, on the same generation chain, as the yardstick for this round.
        const alone = await session.refresh();
        if (alone.status !== 200) throw new Error(`${name}: refresh answered ${alone.status}`);
        session.store(alone.setCookies);
        single.push(alone.ms);
        const idpBefore = providerRefreshes;
        const answers = await Promise.all(Array.from({ length: concurrency }, () => session.refresh()));
        const statuses = answers.map((a) => a.status);
        if (statuses.some((s) => s !== 200)) throw new Error(`${name}: ${concurrency} concurrent refreshes answered ${statuses.join(',')}`);
        idpPerRound = Math.max(idpPerRound, providerRefreshes - idpBefore);
        session.store(answers[0]!.setCookies);
        all.push(...answers.map((a) => a.ms));
        slowest.push(Math.max(...answers.map((a) => a.ms)));
      }
      return { concurrency, rounds: refreshRounds, single_p50_ms: round(median(single), 2), p50_ms: round(median(all), 2), slowest_p50_ms: round(median(slowest), 2), max_provider_refreshes_per_round: idpPerRound };
    };
    const refresh = {
      sequential: { memory: await refreshStats('memory'), redis: await refreshStats('redis') },
      concurrent: { memory: await concurrentStats('memory'), redis: await concurrentStats('redis') },
    };
    const addedByRedisMs = round(refresh.sequential.redis.p50_ms - refresh.sequential.memory.p50_ms, 2);

    const command = `BENCH_DURATION=${seconds} BENCH_WARMUP=${warmup} BENCH_ROUNDS=${rounds} BENCH_CONNECTIONS=${connections} BENCH_REFRESHES=${refreshes} BENCH_REFRESH_CONCURRENCY=${concurrency} BENCH_REFRESH_ROUNDS=${refreshRounds} npm run bench:shared-state`;
    const sharedState = {
      command,
      date: new Date().toISOString(),
      machine: { cpus, model: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}`, redis: /redis_version:(\S+)/.exec(await redis.cli('INFO', 'server'))?.[1] },
      settings: { seconds, warmup, rounds, connections, sessions_per_target: 1, revocation_cache_ttl_s: cacheTtl, refreshes, refresh_concurrency: concurrency, refresh_rounds: refreshRounds, pinning: pinning ? 'autocannon CPU 0, servers and redis-server CPU 1' : 'none', request: `GET ${PATH}` },
      proxied,
      ratios: {
        // CPU per request of the token handler with Redis over the same proxy without a shared store.
        redis_cpu_over_memory: round(proxied.redis.proxy_cpu_us_per_request / proxied.memory.proxy_cpu_us_per_request),
        redis_no_cache_cpu_over_memory: round(proxied.redis_no_cache.proxy_cpu_us_per_request / proxied.memory.proxy_cpu_us_per_request),
        redis_rps_over_memory: round(proxied.redis.rps / proxied.memory.rps),
      },
      refresh: { ...refresh, redis_added_latency_ms: addedByRedisMs },
      bound: { reads_per_round: READS_PER_ROUND, allowed_ops_per_run: allowedOps, max_ops_per_run: maxOpsWithCache },
      targets: {
        // At most one round of revocation reads per session per TH_REVOCATION_CACHE_TTL per instance.
        store_ops_within_bound: maxOpsWithCache <= allowedOps,
        // N refreshes of one session at once: one refresh at the provider per generation.
        one_provider_refresh_per_generation: refresh.concurrent.redis.max_provider_refreshes_per_round === 1 && refresh.concurrent.memory.max_provider_refreshes_per_round === 1,
      },
    };
    writeResults({ sharedState });

    console.log('');
    for (const [name, p] of Object.entries(proxied)) console.log(`${name.padEnd(15)} ${String(p.rps).padStart(6)} req/s  p50 ${p.p50_ms} ms  p99 ${p.p99_ms} ms  proxy CPU ${p.proxy_cpu_us_per_request} µs/request  redis CPU ${p.redis_cpu_us_per_request} µs/request  store ops ${p.store_ops_per_run} per ${seconds} s run (${p.store_ops_per_request}/request)`);
    console.log(`CPU per request, redis/memory ${sharedState.ratios.redis_cpu_over_memory} (TTL 0: ${sharedState.ratios.redis_no_cache_cpu_over_memory}); store ops with the cache at most ${maxOpsWithCache} per run, bound ${allowedOps}`);
    console.log(`refresh p50: memory ${refresh.sequential.memory.p50_ms} ms, redis ${refresh.sequential.redis.p50_ms} ms (${addedByRedisMs >= 0 ? '+' : ''}${addedByRedisMs} ms, ${refresh.sequential.redis.store_ops_per_refresh} store ops each)`);
    for (const name of ['memory', 'redis'] as const) {
      const c = refresh.concurrent[name];
      console.log(`${c.concurrency} concurrent refreshes, ${name}: p50 ${c.p50_ms} ms, slowest ${c.slowest_p50_ms} ms (one alone ${c.single_p50_ms} ms), provider refreshes per round ${c.max_provider_refreshes_per_round}`);
    }
    console.log(`targets: ${JSON.stringify(sharedState.targets)}`);
    console.log(`wrote bench/results.json (sharedState); the same run again: ${command}`);
  } finally {
    for (const c of children) c.kill();
    await provider.close();
    await redis.close();
  }
}

const role = process.argv[2];
if (role) await child(role);
else await main();
