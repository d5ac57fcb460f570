/**
 * How much CPU the token handler costs inside workerd, against the Free plan's 10 ms per request.
 *
 *   npx tsx bench/worker-cpu.ts [requests per scenario, default 2000]
 *
 * Per request: the local stack runs as for `npm run start:worker` (demo provider and example API
 * in this Node process, the Worker under `wrangler dev`), with bench/worker-probe.ts as the entry:
 * the real Worker plus a no-op route. Each scenario sends its requests straight to wrangler dev and
 * reads the CPU time (user + system) the workerd processes used meanwhile from /proc. The
 * provider's and the API's work happens in this process, so it is not counted; what wrangler's dev
 * proxy and workerd's own HTTP handling cost is the no-op scenario, subtracted in "minus floor".
 * The figures are upper bounds of what Cloudflare bills as CPU time (which counts the isolate only).
 *
 * Start-up: workerd's clocks do not advance during pure computation (a Spectre mitigation that
 * wrangler dev's workerd keeps), so the Worker cannot time itself. Instead the bundle that
 * `wrangler deploy --dry-run` produces is imported by fresh Node processes (the same V8 engine, an
 * older version): the import (read, compile, evaluate) and the first request (bindings parsed, app
 * built, no network) are timed, median of 15 runs, after warming up what Node loads lazily and
 * workerd has built in (fetch, Request, Web Crypto, the module loader).
 *
 * Not run by `npm test`: it prints figures, it asserts nothing. Writes bench/results.json under `workers`
 * (the README's Workers figures come from there: `npm run docs`).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { startStack, DEMO_CREDENTIALS } from '../examples/start.js';
import { startWorker, type RunningWorker } from '../examples/start-worker.js';
import { TestBrowser, loginAtProvider } from '../test/helpers/browser.js';
import { writeResults } from './harness.js';

const REQUESTS = Number(process.argv[2] ?? 2000);
const CONCURRENCY = 4;
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** Every process below `root` (wrangler's node processes and its workerd children). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, ppid] of parent) if (ppid === pid) (found.push(child), walk(child));
  };
  walk(root);
  return found;
}

function isWorkerd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('/workerd');
  } catch {
    return false;
  }
}

/** CPU milliseconds (user + system) the processes have used so far. */
function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

async function measure(name: string, count: number, concurrency: number, send: (i: number) => Promise<Response>, wranglerPid: number) {
  // wrangler dev restarts workerd when a source file changes; a scenario that straddles a restart is run again.
  for (let attempt = 1; ; attempt++) {
    // A few requests first, so JIT warm-up and first-use caches (discovery, derived keys) are not counted.
    for (let i = 0; i < 20; i++) await (await send(i)).arrayBuffer();
    const workerd = descendants(wranglerPid).filter(isWorkerd);
    const cpuBefore = cpuMs(workerd);
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const response = await send(i);
          await response.arrayBuffer();
          if (response.status >= 400) throw new Error(`${name}: request ${i} answered ${response.status}`);
        }
      }),
    );
    const wall = performance.now() - started;
    let cpuAfter: number;
    try {
      cpuAfter = cpuMs(workerd);
    } catch (error) {
      if (attempt < 3) continue;
      throw error;
    }
    return { name, count, workerd: workerd.length, cpuPerRequest: (cpuAfter - cpuBefore) / count, wallPerRequest: wall / count };
  }
}

/** Builds the bundle as `wrangler deploy` would and times its import and first requests in fresh processes. */
function measureStartup(runs: number) {
  const outdir = mkdtempSync(join(tmpdir(), 'th-bench-bundle-'));
  try {
    execFileSync(process.execPath, ['node_modules/wrangler/bin/wrangler.js', 'deploy', '--dry-run', '--outdir', outdir], {
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      stdio: 'ignore',
    });
    const bundle = join(outdir, 'worker.js');
    const env = {
      TH_PUBLIC_ORIGIN: 'https://www.example.com',
      TH_ISSUER: 'https://login.example.com',
      TH_CLIENT_ID: 'spa',
      TH_CLIENT_SECRET: 'x'.repeat(32),
      TH_COOKIE_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
      TH_API_ROUTES: '/api=https://api.example.com',
      TH_LOG_LEVEL: 'warn',
    };
    // The bundle is an ES module that uses Web APIs only, so Node runs it as it is.
    // Node loads its own fetch, Request and Web Crypto lazily on first use (workerd has them built
    // in), and its ES module loader on the first import: all warmed up before the clock starts.
    const script = `
      await import('data:text/javascript,export default 1');
      await new Response(new Request('https://warm.example/', { method: 'POST', body: 'x' }).body).text();
      await crypto.subtle.digest('SHA-256', new TextEncoder().encode('warm'));
      crypto.randomUUID();
      const t0 = performance.now();
      const worker = (await import(${JSON.stringify(pathToFileURL(bundle).href)})).default;
      const t1 = performance.now();
      const ask = () => worker.fetch(new Request('https://www.example.com/oauth-agent/session'), ${JSON.stringify(env)}).then((r) => r.text());
      await ask();
      const t2 = performance.now();
      await ask();
      const t3 = performance.now();
      console.log(JSON.stringify([t1 - t0, t2 - t1, t3 - t2]));`;
    const samples = Array.from({ length: runs }, () =>
      JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim()) as [number, number, number],
    );
    const median = (i: number) => samples.map((s) => s[i]!).sort((a, b) => a - b)[Math.floor(runs / 2)]!;
    const bytes = readFileSync(bundle);
    return { runs, bytes: bytes.length, gzipBytes: gzipSync(bytes).length, importMs: median(0), firstRequestMs: median(1), secondRequestMs: median(2) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let worker: RunningWorker | undefined;
  const stack = await startStack({
    ports: { spa: 0, provider: 0, api: 0 },
    env: { TH_LOG_LEVEL: 'warn' },
    quiet: true,
    tokenHandler: async (settings, config) => (worker = await startWorker(settings, config, { port: 0, quiet: true, script: 'bench/worker-probe.ts' })),
  });
  try {
    const w = worker!;

    // One logged-in session, through the SPA's origin as a browser would.
    const browser = new TestBrowser();
    const spaPost = { 'token-handler-version': '1', origin: stack.urls.origin, 'sec-fetch-site': 'same-origin' };
    const start = await browser.fetch('POST', `${stack.urls.agent}/login/start`, '', spaPost);
    const { authorization_url } = (await start.json()) as { authorization_url: string };
    const callback = await loginAtProvider(browser, authorization_url, { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });
    const end = await browser.fetch('POST', `${stack.urls.agent}/login/end`, callback.searchParams.toString(), spaPost);
    if (end.status !== 200) throw new Error(`login failed: ${end.status}`);
    const cookies = (path: string) => browser.jar.header(stack.urls.origin + path) ?? '';
    const direct = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
      fetch(w.url + path, { method, headers: { cookie: cookies(path), ...headers }, ...(body === undefined ? {} : { body }) });

    const results = [
      await measure('no-op (floor)', REQUESTS, CONCURRENCY, () => fetch(`${w.url}/__bench/noop`), w.pid),
      await measure('GET /oauth-agent/session', REQUESTS, CONCURRENCY, () => direct('GET', '/oauth-agent/session'), w.pid),
      await measure('GET /api/whoami (proxy)', REQUESTS, CONCURRENCY, () => direct('GET', '/api/whoami'), w.pid),
      await measure('POST /api/echo, 16 KiB body', REQUESTS, CONCURRENCY, () => direct('POST', '/api/echo', { ...spaPost, 'content-type': 'application/octet-stream' }, 'x'.repeat(16 * 1024)), w.pid),
      await measure('POST /oauth-agent/login/start', REQUESTS, CONCURRENCY, () => fetch(`${w.url}/oauth-agent/login/start`, { method: 'POST', headers: spaPost }), w.pid),
      // Refresh rotates the refresh token, so these go one at a time with the newest cookies.
      await measure('POST /oauth-agent/refresh', Math.min(REQUESTS, 200), 1, async () => {
        const response = await direct('POST', '/oauth-agent/refresh', spaPost);
        browser.jar.store(`${stack.urls.origin}/oauth-agent/refresh`, response.headers.getSetCookie());
        return response;
      }, w.pid),
    ];

    const floor = results[0]!.cpuPerRequest;
    console.log(`\nworkerd CPU per request through wrangler dev (${results[0]!.workerd} workerd processes; CPU clock ${TICKS_PER_SECOND} Hz)\n`);
    console.log('scenario                         requests   CPU ms/req   minus floor   wall ms/req');
    for (const r of results) {
      const extra = r === results[0] ? '' : (r.cpuPerRequest - floor).toFixed(2);
      console.log(`${r.name.padEnd(32)} ${String(r.count).padStart(8)} ${r.cpuPerRequest.toFixed(2).padStart(12)} ${extra.padStart(13)} ${r.wallPerRequest.toFixed(2).padStart(13)}`);
    }
    const startup = measureStartup(15);
    console.log(`\nstart-up, the deployed bundle (${startup.bytes} bytes) in fresh Node ${process.version} processes, median of ${startup.runs}:`);
    console.log(`  import (read, compile, evaluate) ${startup.importMs.toFixed(2)} ms; first request (bindings parsed, app built) ${startup.firstRequestMs.toFixed(2)} ms; second ${startup.secondRequestMs.toFixed(2)} ms`);
    console.log(`reproduce: npx tsx bench/worker-cpu.ts ${REQUESTS}   (node ${process.version}, wrangler 4.85.0)`);
    const ms = (v: number) => Math.round(v * 100) / 100;
    writeResults({
      workers: {
        command: `npx tsx bench/worker-cpu.ts ${REQUESTS}`,
        date: new Date().toISOString(),
        node: process.version,
        scenarios: results.map((r) => ({ name: r.name, requests: r.count, cpu_ms: ms(r.cpuPerRequest), minus_floor_ms: r === results[0] ? undefined : ms(r.cpuPerRequest - floor), wall_ms: ms(r.wallPerRequest) })),
        startup: { bundle_bytes: startup.bytes, bundle_gzip_bytes: startup.gzipBytes, runs: startup.runs, import_ms: ms(startup.importMs), first_request_ms: ms(startup.firstRequestMs), second_request_ms: ms(startup.secondRequestMs) },
      },
    });
    console.log('wrote bench/results.json (workers)');
  } finally {
    await stack.close();
  }
}

await main();
