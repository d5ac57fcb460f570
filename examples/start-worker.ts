// `npm run start:worker`: the same local stack as `npm start` (demo provider, example SPA, example
// API, the same URLs and variables), with the token handler running in workerd through
// `wrangler dev` instead of in Node.
//
//   http://localhost:8080/   the SPA; its /oauth-agent/* and /api/* requests go to the Worker, as
//                            Cloudflare's routes send those paths to it in production
//   http://127.0.0.1:8787    wrangler dev: the Worker itself (WORKER_PORT moves it)
//
// The Worker gets the stack's settings from a temporary env file (`wrangler dev --env-file`, which
// overrides wrangler.toml's [vars] as .dev.vars does), so secrets never appear on a command line.
// WORKER_INSPECTOR_PORT sets the devtools port (default: a free one).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HttpBindings } from '@hono/node-server';
import type { Config } from '../src/config/parse.js';
import { closeOnSignals, startStack, type ExternalTokenHandler, type Stack } from './start.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const BIND_HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;
// Hop-by-hop headers are the front server's own business; `host` is wrangler dev's.
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'expect']);

export type WorkerOptions = {
  /** wrangler dev's port; 0 picks a free one. Default WORKER_PORT or 8787. */
  port?: number;
  /** Default WORKER_INSPECTOR_PORT or a free port. */
  inspectorPort?: number;
  /** Do not echo wrangler's output (the Worker's log lines among it). */
  quiet?: boolean;
  /** Another entry instead of wrangler.toml's `main`, with the same settings (the benchmark wraps the Worker). */
  script?: string;
};

export type RunningWorker = ExternalTokenHandler & {
  /** wrangler dev's own URL. */
  url: string;
  /** The wrangler process (its workerd children are what the benchmark measures). */
  pid: number;
};

/** Starts the Worker under `wrangler dev` with these settings and answers once it serves requests. */
export async function startWorker(settings: Readonly<Record<string, string>>, config: Config, options: WorkerOptions = {}): Promise<RunningWorker> {
  const port = options.port === 0 ? await freePort() : (options.port ?? (Number(process.env['WORKER_PORT']) || 8787));
  const inspectorPort = options.inspectorPort ?? (Number(process.env['WORKER_INSPECTOR_PORT']) || (await freePort()));
  const dir = await mkdtemp(join(tmpdir(), 'th-worker-'));
  const envFile = join(dir, 'worker.env');
  await writeFile(envFile, toDotenv(settings), { mode: 0o600 });

  const child = spawn(
    process.execPath,
    [
      WRANGLER, 'dev',
      ...(options.script ? [options.script] : []),
      '--config', join(ROOT, 'wrangler.toml'),
      '--ip', BIND_HOST,
      '--port', String(port),
      '--inspector-port', String(inspectorPort),
      '--env-file', envFile,
      // The Durable Objects' storage lives and dies with this run (not in .wrangler/state, where it piles up).
      '--persist-to', join(dir, 'state'),
      '--show-interactive-dev-session=false',
    ],
    { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const echo = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      output.push(line);
      if (output.length > 50) output.shift();
      // Offline, wrangler cannot fetch the sample `request.cf` object; it says so with a stack trace,
      // and uses a placeholder, which the token handler never reads.
      if (!options.quiet && !/Request\.cf|workers\.cloudflare\.com|GetAddrInfoReqWrap|^\s+at /.test(line)) console.log(`[worker] ${line}`);
    }
  };
  child.stdout!.on('data', echo);
  child.stderr!.on('data', echo);

  const url = `http://${BIND_HOST}:${port}`;
  const close = async () => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(`${url}${config.agentPath}/session`, child, output);
  } catch (error) {
    await close();
    throw error;
  }

  return {
    url,
    pid: child.pid!,
    description: `workerd via wrangler dev on ${url}`,
    fetch: (request, bindings) => forward(request, bindings, url),
    close,
  };
}

/** Forwards one request to the Worker the way Cloudflare's edge would hand it over. */
async function forward(request: Request, bindings: HttpBindings, workerUrl: string): Promise<Response> {
  const url = new URL(request.url);
  const headers = new Headers();
  for (const [name, value] of request.headers) {
    // A browser cannot send cf-* headers through Cloudflare; the edge sets them itself.
    if (!NOT_FORWARDED.has(name) && !name.startsWith('cf-') && !name.startsWith('proxy-')) headers.append(name, value);
  }
  headers.set('cf-connecting-ip', bindings.incoming.socket.remoteAddress ?? BIND_HOST);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  let response: Response;
  try {
    response = await fetch(workerUrl + url.pathname + url.search, {
      method: request.method,
      headers,
      body: hasBody ? request.body : null,
      redirect: 'manual',
      ...(hasBody ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch {
    return new Response(JSON.stringify({ error_code: 'upstream_unavailable', detailed_error: 'The Worker (wrangler dev) is not reachable' }), {
      status: 502,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    });
  }
  const out = new Headers(response.headers);
  // Node's fetch has decoded a compressed body already; the browser must not decode it again.
  if (out.has('content-encoding')) {
    out.delete('content-encoding');
    out.delete('content-length');
  }
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers: out });
}

async function waitUntilServing(probe: string, child: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`wrangler dev exited before it served requests:\n${output.join('\n')}`);
    try {
      const response = await fetch(probe);
      // Any answer of the token handler itself (JSON), even the 500 of a bad configuration, means it runs.
      if (response.headers.get('content-type') === 'application/json') {
        await response.body?.cancel();
        return;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`wrangler dev did not serve requests within ${READY_TIMEOUT_MS / 1000} s:\n${output.join('\n')}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    // wrangler stops its workerd child when it gets SIGTERM.
    child.kill('SIGTERM');
  });
}

/** dotenv lines; each value quoted with a quote character it does not contain (JWKs hold double quotes). */
function toDotenv(settings: Readonly<Record<string, string>>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      if (/[\r\n]/.test(value)) throw new Error(`${name} must be on one line for the Worker's env file`);
      const quote = ["'", '"', '`'].find((q) => !value.includes(q));
      if (!quote) throw new Error(`${name} holds every quote character and cannot go in an env file`);
      return `${name}=${quote}${value}${quote}\n`;
    })
    .join('');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, BIND_HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  let stack: Stack;
  try {
    stack = await startStack({ platform: 'workers', tokenHandler: (settings, config) => startWorker(settings, config) });
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
  // wrangler dev takes longer to stop than the Node servers.
  closeOnSignals(stack, 8000);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
