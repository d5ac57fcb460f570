/**
 * The README's proxy benchmark figures, rendered from bench/results.json (what `npm run bench`
 * last wrote), so the figures in the README are the run's, never typed. `npm run docs` writes them
 * (scripts/config-docs.ts); test/config/docs.test.ts fails when the README and the file differ.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BENCH_RESULTS = fileURLToPath(new URL('../bench/results.json', import.meta.url));

interface Target {
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly proxy_cpu_us_per_request?: number;
}
interface Results {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly model: string; readonly node: string };
  readonly results: Readonly<Record<string, Target>>;
  readonly ratios: Readonly<Record<string, number>>;
  readonly cpu_bound_ratios: Readonly<Record<string, number>>;
  readonly cookie_work_cpu: { readonly us_per_request: Readonly<Record<string, number>> };
  readonly session_cpu_in_server_us?: number;
  /** Phantom tokens: what a cache hit and a miss add to the same token handler's route without introspection. */
  readonly introspection?: { readonly hit_cost_us: number; readonly miss_cost_us: number; readonly hit_over_c: number; readonly miss_over_c: number };
}

const TARGETS: readonly [string, string][] = [
  ['a_direct', '(a) upstream directly'],
  ['b_token_handler', '(b) through the token handler'],
  ['b_token_handler_node_http', '(b-node-http) the token handler with its `node:http` client'],
  ['b_public_route', "(b') token handler, public route"],
  ['c_plain_proxy', '(c) plain Node proxy, `http.request`'],
  ['c_plain_proxy_undici', "(c'') plain Node proxy, undici `Pool`"],
  ['c_plain_proxy_fetch', "(c') plain Node proxy, `fetch`"],
  ['d_no_introspection', '(d) phantom tokens: a route without introspection'],
  ['d_introspect_hit', "(d') an `introspect` route, cache hit"],
  ['d_introspect_miss', "(d'') an `introspect` route, cache miss"],
];

const n = (value: number) => value.toLocaleString('en-US');

export function renderBenchDocs(results: Results = JSON.parse(readFileSync(BENCH_RESULTS, 'utf8')) as Results): string {
  const rows = TARGETS.filter(([key]) => results.results[key]).map(([key, label]) => {
    const t = results.results[key]!;
    return `| ${label} | ${n(t.rps)} | ${t.p50_ms} ms | ${t.p99_ms} ms | ${t.proxy_cpu_us_per_request === undefined ? '–' : `${t.proxy_cpu_us_per_request} µs`} |`;
  });
  const cookie = results.cookie_work_cpu.us_per_request;
  const b = results.results['b_token_handler'];
  const bp = results.results['b_public_route'];
  const c = results.results['c_plain_proxy'];
  return [
    `From \`bench/results.json\` (${results.date.slice(0, 10)}; ${results.machine.cpus} cores, ${results.machine.model}, Node ${results.machine.node.replace(/^v/, '')}):`,
    '',
    '| Target | req/s | p50 | p99 | proxy CPU per request |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `- **b/c = ${results.ratios['b_over_c']}** (${results.cpu_bound_ratios['b_over_c']} from CPU per request)` +
      (b && bp && c ? `; b'/c = ${(bp.rps / c.rps).toFixed(2)}` : '') +
      `; b/c' = ${results.ratios['b_over_c_fetch']}; b/a = ${results.ratios['b_over_a']}.`,
    ...(results.ratios['b_over_c_undici'] !== undefined
      ? [
          `- **Against the undici forwarder** (c''), the yardstick issue 15 adds (c''/c = ${results.ratios['c_undici_over_c']}): **b/c'' = ${results.ratios['b_over_c_undici']}** (${results.cpu_bound_ratios['b_over_c_undici']} from CPU). With the \`node:http\` client instead of undici's, b-node-http/c = ${results.ratios['b_node_http_over_c']} (${results.cpu_bound_ratios['b_node_http_over_c']} from CPU).`,
        ]
      : []),
    `- **The cookie work** in a tight loop: ${cookie['total']} µs of CPU per request (unsealing ${cookie['unseal']} µs; ${cookie['unseal_with_web_crypto']} µs with Web Crypto, as on Workers)` +
      (results.session_cpu_in_server_us !== undefined ? `; inside the running server a session route costs ${results.session_cpu_in_server_us} µs more than a public one.` : '.'),
    ...(results.introspection
      ? [
          `- **Phantom tokens**: an introspection cache hit costs ${results.introspection.hit_cost_us} µs of proxy CPU per request over the same route without introspection (${cookie['introspection_cache_hit']} µs in the tight loop; target under 10 µs), a miss ${results.introspection.miss_cost_us} µs plus the provider's; d'/c = ${results.introspection.hit_over_c}, d''/c = ${results.introspection.miss_over_c}.`,
        ]
      : []),
  ].join('\n');
}

interface ProxiedTarget {
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly proxy_cpu_us_per_request: number;
  readonly redis_cpu_us_per_request: number;
  readonly store_ops_per_run: number;
  readonly store_ops_per_request: number;
}
interface RefreshRun {
  readonly p50_ms: number;
  readonly store_ops_per_refresh: number;
}
interface ConcurrentRefresh {
  readonly concurrency: number;
  readonly p50_ms: number;
  readonly slowest_p50_ms: number;
  readonly single_p50_ms: number;
  readonly max_provider_refreshes_per_round: number;
}
/** What bench/shared-state.ts writes under `sharedState`. */
interface SharedStateResults {
  readonly command: string;
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly model: string; readonly node: string; readonly redis?: string };
  readonly settings: { readonly seconds: number; readonly rounds: number; readonly connections: number; readonly revocation_cache_ttl_s: number };
  readonly proxied: Readonly<Record<'memory' | 'redis' | 'redis_no_cache', ProxiedTarget>>;
  readonly ratios: { readonly redis_cpu_over_memory: number; readonly redis_no_cache_cpu_over_memory: number };
  readonly refresh: {
    readonly sequential: Readonly<Record<'memory' | 'redis', RefreshRun>>;
    readonly concurrent: Readonly<Record<'memory' | 'redis', ConcurrentRefresh>>;
    readonly redis_added_latency_ms: number;
  };
  readonly bound: { readonly reads_per_round: number; readonly allowed_ops_per_run: number; readonly max_ops_per_run: number };
}

const SHARED_STATE_TARGETS: readonly ['memory' | 'redis' | 'redis_no_cache', (ttl: number) => string][] = [
  ['memory', () => '`memory` (Node\'s default: no shared store)'],
  ['redis', (ttl) => `\`redis://…\`, back-channel logout on, \`TH_REVOCATION_CACHE_TTL=${ttl}\``],
  ['redis_no_cache', () => '`redis://…`, back-channel logout on, `TH_REVOCATION_CACHE_TTL=0`'],
];

/** The README's shared-state figures ("Scaling out"), from `sharedState` in bench/results.json (bench/shared-state.ts). */
export function renderSharedStateDocs(results: { readonly sharedState?: SharedStateResults } = JSON.parse(readFileSync(BENCH_RESULTS, 'utf8')) as { sharedState?: SharedStateResults }): string {
  const s = results.sharedState;
  if (!s) return 'Not measured yet: `npm run bench` (or `npm run bench:shared-state`) writes `sharedState` into `bench/results.json`, then `npm run docs`.';
  const ttl = s.settings.revocation_cache_ttl_s;
  const rows = SHARED_STATE_TARGETS.map(([key, label]) => {
    const t = s.proxied[key];
    const redis = key === 'memory' ? ['–', '–'] : [`${t.redis_cpu_us_per_request} µs`, `${n(t.store_ops_per_run)} (${t.store_ops_per_request} per request)`];
    return `| ${label(ttl)} | ${n(t.rps)} | ${t.p50_ms} ms | ${t.p99_ms} ms | ${t.proxy_cpu_us_per_request} µs | ${redis.join(' | ')} |`;
  });
  const seq = s.refresh.sequential;
  const con = s.refresh.concurrent;
  return [
    `From \`bench/results.json\` (\`sharedState\`, ${s.date.slice(0, 10)}; ${s.machine.cpus} cores, ${s.machine.model}, Node ${s.machine.node.replace(/^v/, '')}${s.machine.redis ? `, redis-server ${s.machine.redis}` : ''}; ${s.settings.rounds} × ${s.settings.seconds} s per target, ${s.settings.connections} connections, one session; \`${s.command}\`):`,
    '',
    `| Token handler, \`TH_SESSION_STORE\` | req/s | p50 | p99 | proxy CPU per request | Redis CPU per request | store operations per ${s.settings.seconds} s run |`,
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `- **CPU per request** with Redis: ${s.ratios.redis_cpu_over_memory} × the same proxy without a shared store (${s.ratios.redis_no_cache_cpu_over_memory} × with \`TH_REVOCATION_CACHE_TTL=0\`, a round of reads on every request).`,
    `- **Store operations** on the proxy path: at most ${s.bound.max_ops_per_run} per run (Redis's \`INFO commandstats\`); the bound is one round of ${s.bound.reads_per_round} reads (the session, its IdP \`sid\`, its \`sub\`) per session per \`TH_REVOCATION_CACHE_TTL\` per instance, ${s.bound.allowed_ops_per_run} in a run.`,
    `- **A coordinated refresh** takes ${seq.redis.p50_ms} ms with Redis against ${seq.memory.p50_ms} ms with the memory store (p50, the provider's token call included): ${s.refresh.redis_added_latency_ms >= 0 ? `${s.refresh.redis_added_latency_ms} ms more` : `no more (${s.refresh.redis_added_latency_ms} ms: within the noise)`}, for ${seq.redis.store_ops_per_refresh} store operations (the lease, the result, the revocation reads).`,
    `- **${con.redis.concurrency} concurrent refreshes of one session**: all 200, ${con.redis.max_provider_refreshes_per_round} refresh at the provider; with Redis p50 ${con.redis.p50_ms} ms and the slowest ${con.redis.slowest_p50_ms} ms (one alone: ${con.redis.single_p50_ms} ms), with the memory store ${con.memory.p50_ms} ms and ${con.memory.slowest_p50_ms} ms (alone: ${con.memory.single_p50_ms} ms).`,
  ].join('\n');
}

interface ChangeRow {
  readonly label: string;
  readonly commit: string;
  readonly what: string;
  readonly from?: string;
  readonly rps: number;
  readonly proxy_cpu_us: number;
  readonly over_c: number;
  readonly over_c_cpu: number;
  readonly over_c_undici: number;
  readonly over_c_undici_cpu: number;
  readonly delta_proxy_cpu_us?: number;
}
/** What bench/changes.ts writes under `changes`. */
interface ChangesResults {
  readonly date: string;
  readonly settings: { readonly seconds: number; readonly rounds: number; readonly connections: number };
  readonly yardsticks: Readonly<Record<'c_plain_proxy' | 'c_plain_proxy_undici', { readonly rps: number; readonly proxy_cpu_us: number }>>;
  readonly rows: readonly ChangeRow[];
}

/** The README's table of each proxy change's own effect (issue 15), from `changes` in bench/results.json (bench/changes.ts). */
export function renderChangesDocs(results: { readonly changes?: ChangesResults } = JSON.parse(readFileSync(BENCH_RESULTS, 'utf8')) as { changes?: ChangesResults }): string {
  const r = results.changes;
  if (!r) return 'Not measured yet: run `npm run bench:changes`, then `npm run docs`.';
  const c = r.yardsticks.c_plain_proxy;
  const cu = r.yardsticks.c_plain_proxy_undici;
  const signed = (v: number | undefined) => (v === undefined ? '–' : `${v > 0 ? '+' : ''}${v} µs`);
  return [
    `From \`bench/results.json\` (\`changes\`, ${r.date.slice(0, 10)}; ${r.settings.rounds} interleaved rounds of ${r.settings.seconds} s per server, ${r.settings.connections} connections; \`npm run bench:changes\`). The yardsticks in the same run: (c) node:http forwarder ${n(c.rps)} req/s, ${c.proxy_cpu_us} µs of CPU per request; (c'') undici forwarder ${n(cu.rps)} req/s, ${cu.proxy_cpu_us} µs.`,
    '',
    '| Server | Commit | The change | req/s | proxy CPU per request | its own effect (against) | /c | /c (CPU) | /c\'\' | /c\'\' (CPU) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.rows.map((row) => `| \`${row.label}\` | \`${row.commit}\` | ${row.what} | ${n(row.rps)} | ${row.proxy_cpu_us} µs | ${signed(row.delta_proxy_cpu_us)}${row.from ? ` (\`${row.from}\`)` : ''} | ${row.over_c} | ${row.over_c_cpu} | ${row.over_c_undici} | ${row.over_c_undici_cpu} |`),
  ].join('\n');
}

interface WorkersResults {
  readonly command: string;
  readonly date: string;
  readonly node: string;
  readonly scenarios: readonly { readonly name: string; readonly requests: number; readonly cpu_ms: number; readonly minus_floor_ms?: number; readonly wall_ms: number }[];
  readonly startup: { readonly bundle_bytes: number; readonly bundle_gzip_bytes: number; readonly runs: number; readonly import_ms: number; readonly first_request_ms: number; readonly second_request_ms: number };
}

/** The README's Workers figures ("Deploy to Cloudflare Workers" → "Measured"), from `workers` in bench/results.json (bench/worker-cpu.ts). */
export function renderWorkersDocs(results: { readonly workers?: WorkersResults } = JSON.parse(readFileSync(BENCH_RESULTS, 'utf8')) as { workers?: WorkersResults }): string {
  const w = results.workers;
  if (!w) return 'Not measured yet: run `npx tsx bench/worker-cpu.ts 2000`, then `npm run docs`.';
  const kib = (bytes: number) => (bytes / 1024).toFixed(1);
  const [floor, ...rest] = w.scenarios;
  return [
    `From \`bench/results.json\` (\`workers\`, ${w.date.slice(0, 10)}; Node ${w.node.replace(/^v/, '')}, wrangler 4.85.0; \`${w.command}\`):`,
    '',
    '| | |',
    '|---|---|',
    `| Bundle (\`wrangler deploy --dry-run\`, minified) | **${kib(w.startup.bundle_bytes)} KiB, ${kib(w.startup.bundle_gzip_bytes)} KiB gzipped** (budget: 100 KiB gzipped) |`,
    `| Start-up: importing the bundle (compile + evaluate) | **${w.startup.import_ms} ms** (V8 in a fresh Node process; median of ${w.startup.runs}) |`,
    `| First request of an isolate (bindings parsed, app built) | **${w.startup.first_request_ms} ms**; the second ${w.startup.second_request_ms} ms |`,
    '',
    `CPU per request of the workerd processes${floor ? `, and beyond the floor of a no-op request (${floor.cpu_ms} ms: wrangler's dev proxy and workerd's own HTTP handling)` : ''}:`,
    '',
    '| Request | requests | CPU per request | beyond the floor |',
    '|---|---|---|---|',
    ...rest.map((r) => `| ${r.name} | ${n(r.requests)} | ${r.cpu_ms} ms | ${r.minus_floor_ms ?? '–'} ms |`),
  ].join('\n');
}
