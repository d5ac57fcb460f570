/**
 * `TH_SESSION_STORE=redis://…` / `rediss://…`: Redis or Valkey, one server or a cluster, through
 * node-redis (@redis/client). One connection per store (per cluster node in cluster mode), made
 * in the background and remade with capped backoff whenever it drops, or when it stops answering
 * without closing. Every call is bounded: it waits at most `connectTimeoutMs` for a connection and
 * then `commandTimeoutMs` for the answer, and otherwise rejects with StoreUnavailableError.
 * Compare-and-set is one Lua script, which Redis runs atomically (in a cluster, on the node that
 * owns the key).
 *
 * Keys get the prefix `th:`, so the token handler's entries can be told apart on a shared server.
 */
import { isIP } from 'node:net';
import { createClient, createCluster, ErrorReply, TimeoutError } from '@redis/client';
import { StoreUnavailableError, type SessionStore } from '../core/ports.js';
import { checkCompareAndSet, checkKey, checkWrite } from './entry-rules.js';
import type { RedisTarget } from './select.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
const KEY_PREFIX = 'th:';
export const CLIENT_NAME = 'edge-token-handler';
// Commands waiting for a connection are bounded by their timeout, and their number by this.
const MAX_QUEUED_COMMANDS = 10_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

// KEYS[1]: the key; ARGV: expected, new value, TTL in milliseconds. GET answers false for none,
// which equals no string, so an absent entry never matches an expected value.
const COMPARE_AND_SET_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;

export interface RedisStoreOptions {
  readonly target: RedisTarget;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  /** For rediss://: the CA certificates (PEM) to trust instead of Node's, e.g. a private CA. */
  readonly ca?: string;
}

/** The few commands the store sends; a single-server client and a cluster client both have them. */
interface Commands {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number }; condition?: 'NX' }): Promise<unknown>;
  del(key: string): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

interface Connection extends Commands {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready' | 'connect', listener: () => void): unknown;
}

export class RedisStore implements SessionStore {
  readonly #connection: Connection;
  readonly #connectTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #cluster: boolean;
  /** 'Redis' or 'Redis cluster', for messages. */
  readonly #where: string;
  #lastError: Error | undefined;
  #connected: Promise<void>;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #reconnecting = false;
  /** Replies received: a timeout with none since its command was sent means a dead connection. */
  #answers = 0;

  constructor(options: RedisStoreOptions) {
    const { target } = options;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#cluster = target.cluster;
    this.#where = target.cluster ? 'Redis cluster' : 'Redis';
    const socket = {
      connectTimeout: this.#connectTimeoutMs,
      // Capped exponential backoff with jitter, so instances do not reconnect in step.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 50),
      // The certificate is checked against the host name (SNI is for names, not addresses).
      ...(target.tls ? { tls: true as const, ...(isIP(target.host) ? {} : { servername: target.host }), ...(options.ca ? { ca: options.ca } : {}) } : {}),
    };
    const common = {
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      commandOptions: { timeout: this.#commandTimeoutMs },
      commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
      // CLIENT LIST shows the token handler's connections by this name.
      name: CLIENT_NAME,
      disableClientInfo: true,
    };
    this.#connection = (
      target.cluster
        ? createCluster({
            rootNodes: [{ socket: { host: target.host, port: target.port } }],
            // Connect to a node when a key needs it: one node down must not hold up the others.
            minimizeConnections: true,
            // Discovered nodes get only these: credentials, TLS and timeouts must be here.
            defaults: { ...common, socket },
            commandOptions: { timeout: this.#commandTimeoutMs },
          })
        : createClient({ ...common, socket: { ...socket, host: target.host, port: target.port }, database: target.database })
    ) as unknown as Connection;
    // Without a listener an 'error' event would end the process; the last one explains failures.
    this.#connection.on('error', (error) => {
      this.#lastError = error;
    });
    this.#connection.on('ready', () => {
      this.#lastError = undefined;
    });
    this.#connected = this.#connect();
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    const value = await this.#run('GET', (c) => c.get(KEY_PREFIX + key));
    return typeof value === 'string' ? value : undefined;
  }

  async put(key: string, value: string, ttlSeconds: number): Promise<void> {
    checkWrite(key, value, ttlSeconds);
    await this.#run('SET', (c) => c.set(KEY_PREFIX + key, value, { expiration: { type: 'PX', value: ttlSeconds * 1000 } }));
  }

  async compareAndSet(key: string, expected: string | undefined, value: string, ttlSeconds: number): Promise<boolean> {
    checkCompareAndSet(key, expected, value, ttlSeconds);
    const ttlMs = ttlSeconds * 1000;
    if (expected === undefined) {
      const reply = await this.#run('SET NX', (c) => c.set(KEY_PREFIX + key, value, { expiration: { type: 'PX', value: ttlMs }, condition: 'NX' }));
      return reply === 'OK';
    }
    const reply = await this.#run('EVAL', (c) => c.eval(COMPARE_AND_SET_SCRIPT, { keys: [KEY_PREFIX + key], arguments: [expected, value, String(ttlMs)] }));
    return reply === 1;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.#run('DEL', (c) => c.del(KEY_PREFIX + key));
  }

  /** Closes the connection: gracefully (pending replies first) when it is up, within the command timeout. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    if (this.#connection.isReady) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(resolve, this.#commandTimeoutMs);
      });
      await Promise.race([this.#connection.close().catch(() => {}), timeout]);
      clearTimeout(timer);
    }
    // After a graceful close this does nothing; otherwise it ends the connection now.
    this.#connection.destroy();
  }

  // A single client retries its connection by itself; a cluster client gives up when no root
  // node answers, so that is retried here.
  #connect(): Promise<void> {
    const connecting = this.#connection.connect().then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof Error) this.#lastError = error;
        if (this.#closed) return;
        this.#retry = setTimeout(() => {
          this.#connected = this.#connect();
        }, MAX_RECONNECT_DELAY_MS);
        this.#retry.unref?.();
        throw error;
      },
    );
    // Nobody may be waiting yet; the failure is seen by the next call instead.
    connecting.catch(() => {});
    return connecting;
  }

  async #run<T>(command: string, send: (commands: Commands) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('The Redis session store is closed');
    await this.#untilConnected(command);
    const answersBefore = this.#answers;
    // node-redis times a command out only while it waits to be sent; a server that has taken it
    // and hangs is bounded here. The abandoned command settles later, or when the socket goes.
    const pending = send(this.#connection);
    pending.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unanswered = false;
    // The error only when it happens: an Error per command (its stack captured) was the largest
    // share of the store's CPU with a read on every request (bench/shared-state.ts, a CPU profile).
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        unanswered = true;
        reject(new TimeoutError());
      }, this.#commandTimeoutMs);
    });
    try {
      const reply = await Promise.race([pending, timeout]);
      this.#answers += 1;
      return reply;
    } catch (error) {
      // Sent on a connection that is up, and nothing answered since: it is dead without having
      // closed (a failed-over primary, a dropped route), so make a new one rather than wait for
      // TCP to notice. A cluster client leaves this to its node clients and topology refreshes.
      if (unanswered && !this.#cluster && this.#connection.isReady && this.#answers === answersBefore) this.#reconnect();
      throw this.#unavailable(command, error);
    } finally {
      clearTimeout(timer);
    }
  }

  #reconnect(): void {
    if (this.#reconnecting || this.#closed) return;
    this.#reconnecting = true;
    this.#connection.destroy();
    this.#connected = this.#connect().finally(() => {
      this.#reconnecting = false;
    });
    this.#connected.catch(() => {});
  }

  async #untilConnected(command: string): Promise<void> {
    // Connected (nearly always): no timer and no race to set up.
    if (this.#connection.isReady && !this.#reconnecting) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#connectTimeoutMs);
    });
    try {
      if ((await Promise.race([this.#connected, timeout])) !== 'timeout') return;
    } catch (error) {
      throw this.#unavailable(command, this.#lastError ?? error, 'not connected');
    } finally {
      clearTimeout(timer);
    }
    const last = this.#lastError ? ` (${describe(this.#lastError)})` : '';
    throw new StoreUnavailableError(`${this.#where} ${command} failed: not connected within ${this.#connectTimeoutMs} ms${last}`, { cause: this.#lastError });
  }

  #unavailable(command: string, error: unknown, state?: string): StoreUnavailableError {
    let what: string;
    if (error instanceof TimeoutError) what = `no answer within ${this.#commandTimeoutMs} ms`;
    else if (state) what = `${state} (${describe(error)})`;
    else if (error instanceof ErrorReply || this.#connection.isReady) what = describe(error);
    else what = `not connected (${describe(this.#lastError ?? error)})`;
    return new StoreUnavailableError(`${this.#where} ${command} failed: ${what}`, { cause: error });
  }
}

function describe(error: unknown): string {
  // The server's own error code (NOAUTH, WRONGPASS, READONLY…); never the rest, which may quote a value.
  if (error instanceof ErrorReply) return `refused: ${error.message.split(' ')[0]}`;
  if (!(error instanceof Error)) return 'unknown error';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} ${code}` : error.name;
}
