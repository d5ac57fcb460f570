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
  ['b_public_route', "(b') token handler, public route"],
  ['c_plain_proxy', '(c) plain Node proxy, `http.request`'],
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
    `- **The cookie work** in a tight loop: ${cookie['total']} µs of CPU per request (unsealing ${cookie['unseal']} µs; ${cookie['unseal_with_web_crypto']} µs with Web Crypto, as on Workers)` +
      (results.session_cpu_in_server_us !== undefined ? `; inside the running server a session route costs ${results.session_cpu_in_server_us} µs more than a public one.` : '.'),
    ...(results.introspection
      ? [
          `- **Phantom tokens**: an introspection cache hit costs ${results.introspection.hit_cost_us} µs of proxy CPU per request over the same route without introspection (${cookie['introspection_cache_hit']} µs in the tight loop; target under 10 µs), a miss ${results.introspection.miss_cost_us} µs plus the provider's; d'/c = ${results.introspection.hit_over_c}, d''/c = ${results.introspection.miss_over_c}.`,
        ]
      : []),
  ].join('\n');
}
