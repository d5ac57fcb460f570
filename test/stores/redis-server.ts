/**
 * Debian's redis-server for the tests: started on a free loopback port with no persistence, read
 * back with redis-cli (not with the client under test), paused, stopped and started again on the
 * same port. `.ci/run` installs redis-server when it is missing.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseStoreSetting, type RedisTarget } from '../../src/stores/select.js';

const run = promisify(execFile);
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const READY_POLLS = 100;
const POLL_INTERVAL_MS = 50;

export interface RedisServerOptions {
  /** Extra redis-server arguments (`--requirepass`, TLS, cluster mode…), for its port and directory. */
  readonly args?: (port: number, dir: string) => readonly string[];
  /** redis-cli arguments that reach it (TLS, a password). */
  readonly cliArgs?: readonly string[];
  /** A port whose cluster bus port (+10000) is free too. */
  readonly clusterPort?: boolean;
}

export class RedisServer {
  #process: ChildProcess | undefined;
  #output = '';
  /** Its working directory (a cluster node keeps its nodes.conf there); nothing else is written. */
  readonly dir = mkdtempSync(join(tmpdir(), 'th-redis-'));

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    if (!existsSync(REDIS_SERVER) || !existsSync(REDIS_CLI)) {
      throw new Error('These tests need Debian\'s redis-server and redis-cli: apt-get install -y redis-server (.ci/run does it)');
    }
    const server = new RedisServer(await freePort(options.clusterPort ?? false), options);
    await server.startAgain();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it on its port again after `stop()` (or the first time). */
  async startAgain(): Promise<void> {
    this.#output = '';
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...(this.options.args?.(this.port, this.dir) ?? [])];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    this.#process = child;
    for (let poll = 0; poll < READY_POLLS; poll += 1) {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${this.#output}`);
      if ((await this.cli('PING').catch(() => '')) === 'PONG') return;
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
    throw new Error(`redis-server did not answer PING after ${READY_POLLS} polls: ${this.#output}`);
  }

  /** One redis-cli command against this server; its raw answer, trimmed. */
  async cli(...command: string[]): Promise<string> {
    const { stdout } = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(this.port), ...(this.options.cliArgs ?? []), ...command], { timeout: 10_000 });
    return stdout.trim();
  }

  /** Stops answering without closing a connection (SIGSTOP): a hung server. */
  pause(): void {
    this.#process?.kill('SIGSTOP');
  }

  resume(): void {
    this.#process?.kill('SIGCONT');
  }

  /** Kills it; connections are reset. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
    this.#process = undefined;
  }

  /** Stops it for good and removes its directory. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A loopback port nothing listens on (and, for a cluster node, its bus port too). */
async function freePort(withBus: boolean): Promise<number> {
  for (;;) {
    const port = await listenOnce(0);
    if (!withBus) return port;
    if (port < 55_000 && (await listenOnce(port + 10_000).then(() => true, () => false))) return port;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

/** The Redis target a TH_SESSION_STORE URL names, as select.ts reads it. */
export function redisTarget(url: string): RedisTarget {
  const parsed = parseStoreSetting(url);
  if (parsed.setting?.kind !== 'redis') throw new Error(`not a Redis setting: ${parsed.problems?.join('; ')}`);
  return parsed.setting.target;
}
