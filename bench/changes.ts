/**
 * Each change's own effect on the proxy, in one run (`npm run bench:changes`; not part of
 * `npm test` or `npm run bench`): the token handler's Node server as it was at each of a list of
 * commits, all against one upstream, in the same interleaved rounds, beside the plain node:http
 * forwarder (c) and the plain undici forwarder (c'') of bench/proxy.ts.
 *
 * Each commit is checked out into a temporary git worktree (sharing this checkout's node_modules)
 * and its own bench/proxy.ts `token-handler` role serves it, so what runs is exactly that commit's
 * source. The commits share one set of settings and one session (the cookies of one real login at
 * the demo provider open on all of them). The list is the changes of issue 15, one per commit,
 * each row's `delta` is its proxy CPU per request against the row it was made on (`from`).
 *
 * Settings (environment): BENCH_DURATION (s, 6), BENCH_WARMUP (s, 2), BENCH_ROUNDS (3),
 * BENCH_CONNECTIONS (32); BENCH_CHANGES (space-separated `label=commit` pairs) replaces the list.
 * Writes bench/results.json under `changes`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PATH, benchSettings, browserHeaders, startBenchProvider, load, login, median, pinningNote, root, round, startRole, writeResults, type Role, type Run } from './harness.js';

const proxyBench = fileURLToPath(new URL('./proxy.ts', import.meta.url));

/**
 * Issue 15's changes in the order they landed: before any of them, then one at a time. The log
 * path and the hot-path changes were made side by side from the same start, so each is measured
 * on its own from there; `main_node_http` is all of them together, and `main` adds the undici client.
 */
const DEFAULT_CHANGES: readonly Change[] = [
  { label: 'before', rev: 'c0cc975', what: 'the session start: node:http client, undici Headers, a JSON.stringify log line per request' },
  { label: 'log_line', rev: 'c060417', from: 'before', what: 'the per-request log line from pre-serialised parts (sink unchanged: console.log)' },
  { label: 'log_buffered', rev: '8572179', from: 'log_line', what: 'the buffered stdout sink: one write per event-loop turn' },
  { label: 'route_once', rev: '502b566', from: 'before', what: 'the route matched once per request, not twice' },
  { label: 'header_bag', rev: '623383e', from: 'route_once', what: 'plain-object headers (HeaderBag) instead of undici Headers' },
  { label: 'origin_once', rev: 'e50b2e7', from: 'header_bag', what: "each route's upstream URL parsed once, not per call" },
  { label: 'fewer_closures', rev: 'b82b0ab', from: 'origin_once', what: 'fewer closures and promises per request' },
  { label: 'keep_alive_set', rev: '4a2bda9', from: 'fewer_closures', what: "no token set for 'Connection: keep-alive'" },
  { label: 'main_node_http', rev: 'HEAD', from: 'before', what: 'all of the above together, with the node:http client', env: { BENCH_UPSTREAM_CLIENT: 'node-http' } },
  { label: 'main', rev: 'HEAD', from: 'main_node_http', what: "…and undici's Pool as the client (the default)" },
];

interface Change {
  readonly label: string;
  readonly rev: string;
  /** The row this change was made on, whose figures its delta is against. */
  readonly from?: string;
  readonly what: string;
  /** More settings for this server (bench/proxy.ts's token-handler role reads BENCH_UPSTREAM_CLIENT). */
  readonly env?: Readonly<Record<string, string>>;
}

function git(...args: string[]): string {
  return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
}

interface Tree extends Change {
  readonly commit: string;
  readonly dir: string;
}

/** A detached worktree of the change's commit, with this checkout's node_modules. */
function checkout(base: string, change: Change): Tree {
  const commit = git('rev-parse', '--short', `${change.rev}^{commit}`);
  const dir = join(base, change.label);
  git('worktree', 'add', '--detach', '--quiet', dir, commit);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return { ...change, commit, dir };
}

async function main(): Promise<void> {
  const seconds = Number(process.env['BENCH_DURATION'] ?? 6);
  const warmup = Number(process.env['BENCH_WARMUP'] ?? 2);
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
  const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
  // BENCH_CHANGES: each against the one before it.
  const list: readonly Change[] = process.env['BENCH_CHANGES']
    ? process.env['BENCH_CHANGES'].split(/\s+/).filter(Boolean).map((pair, i, all) => {
        const [label, rev] = pair.split('=');
        return { label: label!, rev: rev!, what: '', ...(i > 0 ? { from: all[i - 1]!.split('=')[0]! } : {}) };
      })
    : DEFAULT_CHANGES;

  const { provider, clientSecret } = await startBenchProvider();
  const base = mkdtempSync(join(tmpdir(), 'th-bench-changes-'));
  const trees: Tree[] = [];
  const roles: Role[] = [];
  try {
    for (const change of list) trees.push(checkout(base, change));
    const upstream = await startRole(proxyBench, 'upstream');
    roles.push(upstream);
    const env = benchSettings(provider.issuer, clientSecret, `/api=${upstream.url}/api`);
    const plain = await startRole(proxyBench, 'plain-proxy', { BENCH_UPSTREAM: upstream.url });
    const plainUndici = await startRole(proxyBench, 'plain-proxy-undici', { BENCH_UPSTREAM: upstream.url });
    roles.push(plain, plainUndici);
    const servers: Record<string, Role> = {};
    for (const tree of trees) {
      servers[tree.label] = await startRole(join(tree.dir, 'bench/proxy.ts'), 'token-handler', { ...env, ...tree.env }, tree.dir);
      roles.push(servers[tree.label]!);
    }

    const headers = browserHeaders(await login(servers[trees[0]!.label]!.url));
    const targets: Record<string, { url: string; proc: Role['proc'] }> = {
      c_plain_proxy: { url: plain.url + PATH, proc: plain.proc },
      c_plain_proxy_undici: { url: plainUndici.url + PATH, proc: plainUndici.proc },
      ...Object.fromEntries(trees.map((t) => [t.label, { url: servers[t.label]!.url + PATH, proc: servers[t.label]!.proc }])),
    };
    // Every server answers the session's request with 200 before anything is measured.
    for (const [name, t] of Object.entries(targets)) {
      const answer = await fetch(t.url, { headers });
      await answer.arrayBuffer();
      if (answer.status !== 200) throw new Error(`${name} answered ${answer.status} to the benchmark request`);
    }

    const runs: Record<string, Run[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    console.log(`# changes: ${rounds} rounds x ${Object.keys(targets).length} targets, ${seconds} s each after ${warmup} s warm-up, ${connections} connections; ${pinningNote}`);
    for (let round_ = 1; round_ <= rounds; round_++) {
      for (const [name, t] of Object.entries(targets)) {
        if (warmup > 0) await load(t.url, headers, warmup, connections, {});
        const run = await load(t.url, headers, seconds, connections, { proxy: t.proc, upstream: upstream.proc });
        if (run.non2xx > 0 || run.errors > 0) throw new Error(`${name}: ${run.non2xx} non-2xx answers and ${run.errors} errors`);
        runs[name]!.push(run);
        console.log(`round ${round_} ${name.padEnd(22)} ${String(run.rps).padStart(6)} req/s  cpu/req ${JSON.stringify(run.cpuPerRequestUs)} µs  cpu share ${JSON.stringify(run.cpuShare)}`);
      }
    }

    const summary = Object.fromEntries(
      Object.entries(runs).map(([name, list_]) => [
        name,
        {
          rps: median(list_.map((r) => r.rps)),
          proxy_cpu_us: median(list_.map((r) => r.cpuPerRequestUs['proxy'] ?? 0)),
          upstream_cpu_us: median(list_.map((r) => r.cpuPerRequestUs['upstream'] ?? 0)),
          rounds_rps: list_.map((r) => r.rps),
        },
      ]),
    );
    const c = summary['c_plain_proxy']!;
    const cUndici = summary['c_plain_proxy_undici']!;
    // Throughput on a saturated core is set by proxy + upstream CPU per request: the steadier ratio.
    const cpuRatio = (t: { proxy_cpu_us: number; upstream_cpu_us: number }, yardstick: { proxy_cpu_us: number; upstream_cpu_us: number }) =>
      round((yardstick.proxy_cpu_us + yardstick.upstream_cpu_us) / (t.proxy_cpu_us + t.upstream_cpu_us));
    const rows = trees.map((row) => {
      const s = summary[row.label]!;
      const from = row.from === undefined ? undefined : summary[row.from];
      return {
        label: row.label,
        commit: row.commit,
        what: row.what,
        from: row.from,
        rps: s.rps,
        proxy_cpu_us: s.proxy_cpu_us,
        over_c: round(s.rps / c.rps),
        over_c_cpu: cpuRatio(s, c),
        over_c_undici: round(s.rps / cUndici.rps),
        over_c_undici_cpu: cpuRatio(s, cUndici),
        // This change's own effect: its proxy CPU per request minus that of the row it was made on.
        delta_proxy_cpu_us: from ? s.proxy_cpu_us - from.proxy_cpu_us : undefined,
        rounds_rps: s.rounds_rps,
      };
    });
    const changes = {
      command: 'npm run bench:changes',
      date: new Date().toISOString(),
      settings: { seconds, warmup, rounds, connections, pinning: pinningNote, request: `GET ${PATH}` },
      yardsticks: { c_plain_proxy: c, c_plain_proxy_undici: cUndici },
      rows,
    };
    writeResults({ changes });
    console.log('');
    console.log(`c (node:http forwarder) ${c.rps} req/s, proxy CPU ${c.proxy_cpu_us} µs; c'' (undici forwarder) ${cUndici.rps} req/s, ${cUndici.proxy_cpu_us} µs`);
    for (const r of rows) {
      console.log(`${r.label.padEnd(16)} ${r.commit}  ${String(r.rps).padStart(6)} req/s  proxy CPU ${String(r.proxy_cpu_us).padStart(4)} µs${r.delta_proxy_cpu_us === undefined ? '' : ` (${r.delta_proxy_cpu_us >= 0 ? '+' : ''}${r.delta_proxy_cpu_us} from ${r.from})`}  /c ${r.over_c} (CPU ${r.over_c_cpu})  /c'' ${r.over_c_undici} (CPU ${r.over_c_undici_cpu})`);
    }
    console.log('wrote bench/results.json (changes); reproduce: npm run bench:changes');
  } finally {
    for (const r of roles) r.proc.kill();
    await provider.close();
    for (const t of trees) if (existsSync(t.dir)) git('worktree', 'remove', '--force', t.dir);
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
