/**
 * What ships, tried the way it is used: `npm run build` and `npm pack`, then
 *
 * - the container image's steps (Dockerfile): the packed files and the lock file in a clean
 *   folder, `npm ci --omit=dev`, `node dist/node/server.js` against the real oidc-provider, and a
 *   login through it; SIGTERM ends it with 0;
 * - the package in a fresh project (`npm install <tarball>`): each entry imports without side
 *   effects and with its types, a host Hono app mounts the token handler and a login runs through
 *   it, and `npx edge-token-handler` checks a configuration.
 *
 * npm's cache is warm (`npm ci` filled it), so the installs need no network.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const NPM_QUIET = ['--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--loglevel=error'];

let stack: TestStack;
let work: string;
let packed: { filename: string; files: string[] };
/** The image's /app: the packed files, the lock file and production dependencies only. */
let image: string;
/** A project that installed the tarball. */
let host: string;
const processes: ServerProcess[] = [];

/** The TH_* settings of the test stack, as a deployment would give them. */
const settings = () => Object.fromEntries(Object.entries(stack.env).filter((e): e is [string, string] => e[1] !== undefined));

/** The SPA's requests, sent to a token handler listening on `base` instead of the public origin. */
const overHttp = (base: string) => ({
  request: (input: string, init: RequestInit) => fetch(input.replace(PUBLIC_ORIGIN, base), { ...init, redirect: 'manual' }),
});

async function loginAndCallTheApi(base: string) {
  const spa = new SpaClient(overHttp(base));
  const end = await spa.login();
  expect(end.status).toBe(200);
  expect(end.body['is_logged_in']).toBe(true);
  expect((await spa.json('GET', '/oauth-agent/session')).body['id_token_claims']).toMatchObject({ sub: 'demo' });
  expect((await spa.json('GET', '/api/whoami')).body['sub']).toBe('demo');
  return spa;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'th-ship-'));
  const [started] = await Promise.all([startTestStack(), run('npm', ['run', '-s', 'build'], { cwd: ROOT })]);
  stack = started;
  // --ignore-scripts: the build just ran (prepack would run it again).
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT });
  const [info] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  packed = { filename: join(work, info.filename), files: info.files.map((f) => f.path) };

  image = join(work, 'app');
  host = join(work, 'host');
  await mkdir(image);
  await mkdir(host);
  await run('tar', ['-xzf', packed.filename, '-C', image, '--strip-components=1']);
  await cp(join(ROOT, 'package-lock.json'), join(image, 'package-lock.json'));
  await writeFile(join(host, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }));
  await Promise.all([
    run('npm', ['ci', '--omit=dev', ...NPM_QUIET], { cwd: image }),
    run('npm', ['install', '--omit=dev', ...NPM_QUIET, packed.filename], { cwd: host }),
  ]);
}, 120_000);

afterAll(async () => {
  for (const proc of processes) proc.stop();
  await stack?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the build, the entries and the bin, and nothing else (no Lambda@Edge or Worker bundle, no sources)', () => {
    for (const file of ['dist/node/server.js', 'dist/cli/main.js', 'dist/index.js', 'dist/index.d.ts', 'dist/adapters/node/index.d.ts', 'dist/adapters/workers/index.js', 'dist/adapters/lambda-edge/index.js', 'package.json', 'README.md']) {
      expect(packed.files).toContain(file);
    }
    expect(packed.files.filter((f) => !/^(dist\/(index\.(js|d\.ts)|(adapters|app|cli|config|core|stores|node)\/.+\.(js|d\.ts))|package\.json|README\.md)$/.test(f))).toEqual([]);
  });
});

describe('the image steps: npm ci --omit=dev, node dist/node/server.js', () => {
  it('installs production dependencies only', () => {
    for (const dev of ['tsx', 'typescript', 'vitest', 'oidc-provider', 'esbuild', 'wrangler']) expect(existsSync(join(image, 'node_modules', dev)), dev).toBe(false);
    expect(existsSync(join(image, 'node_modules', 'hono'))).toBe(true);
  });

  it('serves health, readiness, metrics and a login against the real provider, and drains to exit 0 on SIGTERM', async () => {
    const server = startServerProcess(['dist/node/server.js'], { ...settings(), PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', NODE_ENV: 'production' }, image);
    processes.push(server);
    const base = await server.url();
    expect(await (await fetch(`${base}/oauth-agent/health`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${base}/oauth-agent/ready`)).json()).toEqual({ status: 'ready' });

    const spa = await loginAndCallTheApi(base);
    // prom-client is a production dependency: the metrics answer from the image too.
    const metricsUrl = String((await server.waitFor((l) => l.msg === 'metrics_listening'))['url']);
    const scrape = await (await fetch(metricsUrl)).text();
    expect(scrape).toContain('token_handler_requests_total');
    const logins = scrape.split('\n').filter((line) => line.startsWith('token_handler_auth_events_total{') && line.includes('event="login"') && line.includes('outcome="success"'));
    expect(logins.map((line) => line.split(' ').at(-1))).toEqual(['1']);
    const logged = JSON.stringify(server.lines);
    for (const { value } of spa.cookies.values()) expect(logged).not.toContain(value);

    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});

describe('the package in another project', () => {
  it('imports every entry without side effects (the process ends by itself, prints nothing else)', async () => {
    await writeFile(
      join(host, 'imports.mjs'),
      `import * as root from 'edge-token-handler';
import * as node from 'edge-token-handler/node';
import * as workers from 'edge-token-handler/workers';
import * as edge from 'edge-token-handler/lambda-edge';
const names = (m) => Object.keys(m).sort();
// Each platform's factory, built from the same settings, answers its health endpoint.
const settings = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('TH_')));
const quiet = { logSink: () => {} };
const worker = workers.createWorker(quiet);
const workerHealth = (await worker.fetch(new Request(settings.TH_PUBLIC_ORIGIN + '/oauth-agent/health'), settings)).status;
const event = JSON.parse(process.env.EDGE_EVENT);
const edgeHealth = (await edge.createEdgeHandler({ settings, ...quiet })(event)).status;
const nodeHealth = (await node.createNodeTokenHandler(root.parseConfig(settings), quiet).request(settings.TH_PUBLIC_ORIGIN + '/oauth-agent/health')).status;
console.log(JSON.stringify({ root: names(root), node: names(node), workers: names(workers), edge: names(edge), workerHealth, edgeHealth, nodeHealth }));
`,
    );
    const fixture = JSON.parse(await readFile(join(ROOT, 'test/runtime/lambda-edge/fixtures/origin-request.json'), 'utf8'));
    fixture.Records[0].cf.request.uri = '/oauth-agent/health';
    fixture.Records[0].cf.request.querystring = '';
    const { stdout, stderr } = await run(process.execPath, ['imports.mjs'], { cwd: host, env: { PATH: process.env['PATH'], ...settings(), EDGE_EVENT: JSON.stringify(fixture) } });
    expect(stderr).toBe('');
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const seen = JSON.parse(lines[0]!);
    expect(seen.root).toEqual(['ConfigError', 'createTokenHandler', 'parseConfig']);
    expect(seen.node).toEqual(expect.arrayContaining(['createNodeTokenHandler', 'nodeFetchListener', 'startNodeServer']));
    expect(seen.workers).toEqual(expect.arrayContaining(['createWorker', 'createWorkersTokenHandler']));
    expect(seen.edge).toEqual(expect.arrayContaining(['createEdgeHandler', 'validateEdgeSettings']));
    expect(seen).toMatchObject({ workerHealth: 200, edgeHealth: '200', nodeHealth: 200 });
  });

  it('has types for every entry through the exports map', async () => {
    await writeFile(
      join(host, 'types.ts'),
      `import { ConfigError, createTokenHandler, parseConfig, type Config, type TokenHandler } from 'edge-token-handler';
import { createNodeTokenHandler, startNodeServer, type NodeTokenHandler, type RunningServer } from 'edge-token-handler/node';
import { createWorker, type TokenHandlerWorker } from 'edge-token-handler/workers';
import { createEdgeHandler, type EdgeHandler } from 'edge-token-handler/lambda-edge';
// @ts-expect-error: only the exported entries resolve, not the files behind them
import type { Agent } from 'edge-token-handler/dist/core/agent/agent.js';

const config: Config = parseConfig({});
const app: TokenHandler = createTokenHandler(config);
const nodeApp: NodeTokenHandler = createNodeTokenHandler(config);
const server: Promise<RunningServer> = startNodeServer(nodeApp.listener, { port: 0, hostname: '127.0.0.1' });
const worker: TokenHandlerWorker = createWorker();
const edge: EdgeHandler = createEdgeHandler({ settings: {} });
const problems: readonly string[] = new ConfigError([]).problems;
// @ts-expect-error: a setting is a string, never a number
parseConfig({ TH_CLOCK_SKEW: 60 });
export { app, server, worker, edge, problems, type Agent };
`,
    );
    await writeFile(
      join(host, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2023', 'DOM'], types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')], skipLibCheck: true },
        files: ['types.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: host }).then(
      () => 'ok',
      (error: { stdout: string }) => error.stdout,
    );
    expect(result).toBe('ok');
  });

  it("runs the README's Hono example (only the port changed): the host's own route, a login through it, and a drain on SIGTERM", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const example = /\*\*A Hono app on Node\*\*[^]*?```ts\n([^]*?)```/.exec(readme)?.[1];
    expect(example).toContain("startNodeServer(nodeFetchListener(app.fetch), { port: 8080, hostname: '0.0.0.0' })");
    const runnable = example!.replace("{ port: 8080, hostname: '0.0.0.0' }", "{ port: 0, hostname: '127.0.0.1' }") + "console.log(JSON.stringify({ msg: 'listening', url: server.url }));\n";
    await writeFile(join(host, 'host.mjs'), runnable);
    const server = startServerProcess(['host.mjs'], { ...settings(), TH_LOG_LEVEL: 'warn' }, host);
    processes.push(server);
    const base = await server.url();
    expect(await (await fetch(base + '/')).text()).toBe('my app');
    await loginAndCallTheApi(base);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('runs npx edge-token-handler: check-config refuses a misspelt setting (exit 1), keygen prints a key', async () => {
    const { TH_ISSUER: issuer, ...rest } = settings();
    const refused = await run('npx', ['--no', 'edge-token-handler', 'check-config'], { cwd: host, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...rest, TH_ISUER: issuer! } }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('TH_ISUER is not a setting: did you mean TH_ISSUER?');

    const { stdout } = await run('npx', ['--no', 'edge-token-handler', 'keygen'], { cwd: host });
    expect(stdout.trim()).toMatch(/^k\d{8}:[A-Za-z0-9_-]{43}$/);
  });
});
