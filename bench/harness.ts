/**
 * What the benchmarks share (bench/proxy.ts, bench/shared-state.ts, bench/changes.ts): the
 * request, child processes pinned to the server CPU, autocannon pinned to the other, CPU time from
 * /proc, medians, a real login at the demo provider, and bench/results.json, which each benchmark
 * updates under its own keys only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const PUBLIC_ORIGIN = 'https://www.example.test';
export const CLIENT_ID = 'bench-client';
export const PATH = '/api/orders/42?view=full';
export const root = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = new URL('./results.json', import.meta.url);

const pin = existsSync('/usr/bin/taskset') || existsSync('/bin/taskset') ? 'taskset' : undefined;
export const cpus = os.cpus().length;
/** With `taskset` and two CPUs: autocannon on CPU 0, every server on CPU 1, so each target gets the same single core. */
export const pinning = pin !== undefined && cpus >= 2;
export const pinningNote = pinning ? 'autocannon on CPU 0, servers on CPU 1' : 'no CPU pinning';

export interface Role {
  readonly proc: ChildProcess;
  readonly url: string;
  stats(): Promise<Record<string, number>>;
}

/**
 * Runs `role` of `script` in a child process (on the server CPU when pinning) and waits for the
 * port it reports over IPC. The child answers `stats` messages with `{ stats }` if it keeps any.
 */
export async function startRole(script: string, role: string, env: Record<string, string> = {}, cwd = root): Promise<Role> {
  const proc = spawnOnServerCpu(['--import', 'tsx', script, role], env, cwd);
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
    proc.on('message', (m: { port?: number }) => m.port && resolve(m.port));
  });
  return {
    proc,
    url: `http://127.0.0.1:${port}`,
    stats: () =>
      new Promise((resolve) => {
        const onMessage = (m: { stats?: Record<string, number> }) => {
          if (m.stats) {
            proc.off('message', onMessage);
            resolve(m.stats);
          }
        };
        proc.on('message', onMessage);
        proc.send('stats');
      }),
  };
}

/** `node …args` with an IPC channel, on the server CPU when pinning; stdout discarded. */
export function spawnOnServerCpu(args: string[], env: Record<string, string>, cwd = root): ChildProcess {
  const options = { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[], env: { ...process.env, ...env }, cwd };
  return pinning ? spawn(pin!, ['-c', '1', process.execPath, ...args], options) : spawn(process.execPath, args, options);
}

/** Moves a running process and all its threads to the server CPU (a process this benchmark did not start, like redis-server). */
export function pinToServerCpu(pid: number): void {
  if (pinning) execFileSync(pin!, ['-a', '-p', '-c', '1', String(pid)], { stdio: 'ignore' });
}

/** User plus system CPU time of a process in milliseconds, from /proc (Linux); undefined elsewhere. */
export function cpuMs(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

export interface Run {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** CPU time per request of each watched process, in microseconds. */
  cpuPerRequestUs: Record<string, number | undefined>;
  /** Share of one core each process used during the run (and autocannon's). */
  cpuShare: Record<string, number | undefined>;
}

/** Runs autocannon (pinned to CPU 0) against `url`; reads the CPU time of each watched process around it. */
export async function load(url: string, headers: Record<string, string>, seconds: number, connections: number, watch: Record<string, { readonly pid?: number | undefined }>): Promise<Run> {
  const cli = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url));
  const args = [cli, '--json', '-c', String(connections), '-d', String(seconds), ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]), url];
  const command = pinning ? [pin!, '-c', '0', process.execPath, ...args] : [process.execPath, ...args];
  const before = Object.fromEntries(Object.entries(watch).map(([name, p]) => [name, cpuMs(p.pid)]));
  const started = performance.now();
  const proc = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d));
  proc.stderr!.resume();
  const generatorCpu = { start: 0 };
  setTimeout(() => (generatorCpu.start = cpuMs(proc.pid) ?? 0), 50);
  let generatorEnd: number | undefined;
  const poll = setInterval(() => (generatorEnd = cpuMs(proc.pid) ?? generatorEnd), 200);
  await new Promise((resolve) => proc.on('exit', resolve));
  clearInterval(poll);
  const elapsed = performance.now() - started;
  const result = JSON.parse(out) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  const total = result.requests.total;
  const cpuPerRequestUs: Record<string, number | undefined> = {};
  const cpuShare: Record<string, number | undefined> = {};
  for (const [name, p] of Object.entries(watch)) {
    const a = before[name];
    const b = cpuMs(p.pid);
    cpuPerRequestUs[name] = a === undefined || b === undefined ? undefined : Math.round(((b - a) * 1000) / total);
    cpuShare[name] = a === undefined || b === undefined ? undefined : round((b - a) / elapsed, 2);
  }
  cpuShare['autocannon'] = generatorEnd === undefined ? undefined : round((generatorEnd - generatorCpu.start) / elapsed, 2);
  return { rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, requests: total, non2xx: result.non2xx, errors: result.errors, cpuPerRequestUs, cpuShare };
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** What a browser sends with an API call: the session cookie among others, and the usual headers. */
export function browserHeaders(cookie: string): Record<string, string> {
  return {
    accept: 'application/json',
    'accept-language': 'en-GB,en;q=0.9',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    'sec-fetch-site': 'same-origin',
    'sec-fetch-mode': 'cors',
    'sec-fetch-dest': 'empty',
    'token-handler-version': '1',
    cookie: `${cookie}; theme=dark; consent=1`,
  };
}

/** Logs in for real: login/start on the token handler, the provider's forms, login/end. Returns the Cookie header for /api. */
export async function login(tokenHandler: string): Promise<string> {
  const { TestBrowser, loginAtProvider } = await import('../test/helpers/browser.js');
  const common = { 'token-handler-version': '1', origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded' };
  const start = await fetch(`${tokenHandler}/oauth-agent/login/start`, { method: 'POST', headers: common, body: '' });
  if (start.status !== 200) throw new Error(`login/start answered ${start.status}`);
  const { authorization_url } = (await start.json()) as { authorization_url: string };
  const loginCookie = start.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const callback = await loginAtProvider(new TestBrowser(), authorization_url, { username: 'demo', password: 'demo', redirectUri: `${PUBLIC_ORIGIN}/` });
  const end = await fetch(`${tokenHandler}/oauth-agent/login/end`, {
    method: 'POST',
    headers: { ...common, cookie: loginCookie },
    body: new URLSearchParams(callback.searchParams).toString(),
  });
  const body = (await end.json()) as { is_logged_in?: boolean };
  if (end.status !== 200 || !body.is_logged_in) throw new Error(`login/end answered ${end.status}`);
  // What a browser would send on /api: the access-token cookie (Path=/), never the agent-scoped ones.
  return end.headers.getSetCookie().map((c) => c.split(';')[0]!).filter((c) => c.startsWith('__Host-th-at')).join('; ');
}

/** A demo provider (examples/provider.ts) with the bench's client (a fresh secret unless given), tokens that outlive any run, and `options` on top. */
export async function startBenchProvider(options: { readonly opaqueAccessTokens?: boolean; readonly backchannelLogoutUri?: string; readonly clientSecret?: string } = {}) {
  const { startDemoProvider } = await import('../examples/provider.js');
  const clientSecret = options.clientSecret ?? randomBytes(32).toString('base64url');
  const provider = await startDemoProvider({
    port: 0,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [`${PUBLIC_ORIGIN}/`],
        post_logout_redirect_uris: [`${PUBLIC_ORIGIN}/`],
        ...(options.backchannelLogoutUri ? { backchannel_logout_uri: options.backchannelLogoutUri } : {}),
      },
    ],
    // Longer than the whole run, so the access token does not expire halfway.
    accessTokenTtl: 3600,
    apiAudience: 'http://127.0.0.1:8082',
    ...(options.opaqueAccessTokens ? { opaqueAccessTokens: true } : {}),
  });
  return { provider, clientSecret };
}

/** The token handler's settings for the bench: this provider's client, fresh cookie keys, these routes. */
export function benchSettings(issuer: string, clientSecret: string, apiRoutes: string): Record<string, string> {
  return {
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: clientSecret,
    TH_COOKIE_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
    TH_API_ROUTES: apiRoutes,
  };
}

export function readResults(): Record<string, unknown> {
  return existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
}

/** Writes `figures` into bench/results.json, keeping every key another benchmark wrote and this one does not set. */
export function writeResults(figures: Record<string, unknown>): void {
  writeFileSync(RESULTS, JSON.stringify({ ...readResults(), ...figures }, null, 2) + '\n');
}
