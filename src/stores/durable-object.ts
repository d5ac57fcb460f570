/**
 * `TH_SESSION_STORE=durable-object`, on Cloudflare Workers: each key is its own Durable Object
 * (SessionStoreObject in src/adapters/workers/session-store-object.ts), reached over RPC through
 * the SESSION_STORE binding. Cloudflare runs one instance of an object at a time, worldwide, and it
 * handles one call at a time, so compare-and-set is single-threaded for every Worker instance.
 * Each call is bounded by `timeoutMs`.
 *
 * No Node API and no client library: this is what the Worker imports.
 */
import { StoreUnavailableError } from '../core/ports.js';
import { checkCompareAndSet, checkKey, checkWrite } from './entry-rules.js';
import type { OpenedStore } from './select.js';

export const DEFAULT_TIMEOUT_MS = 3_000;

/** The RPC methods of SessionStoreObject, as a stub exposes them. */
export interface SessionStoreStub {
  read(): Promise<string | undefined>;
  write(value: string, ttlSeconds: number): Promise<void>;
  swap(expected: string | undefined, value: string, ttlSeconds: number): Promise<boolean>;
  remove(): Promise<void>;
}

/** The part of a `DurableObjectNamespace` binding the store uses. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): unknown;
}

export function durableObjectStore(namespace: DurableObjectNamespaceLike, options: { timeoutMs?: number } = {}): OpenedStore {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // A stub is cheap and per key; the object it names lives wherever Cloudflare first placed it.
  const object = (key: string) => namespace.get(namespace.idFromName(key) as never) as SessionStoreStub;

  const call = async <T>(method: string, send: () => Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`Durable Object ${method} failed: no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([send(), timeout]);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      // Cloudflare marks its errors retryable (the object was reset) or overloaded; the message may quote more.
      const flags = ['retryable', 'overloaded'].filter((flag) => (error as Record<string, unknown> | null)?.[flag] === true);
      const what = `${error instanceof Error ? error.name : 'unknown error'}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`;
      throw new StoreUnavailableError(`Durable Object ${method} failed: ${what}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    async get(key) {
      checkKey(key);
      return call('read', () => object(key).read());
    },
    async put(key, value, ttlSeconds) {
      checkWrite(key, value, ttlSeconds);
      await call('write', () => object(key).write(value, ttlSeconds));
    },
    async compareAndSet(key, expected, value, ttlSeconds) {
      checkCompareAndSet(key, expected, value, ttlSeconds);
      return call('swap', () => object(key).swap(expected, value, ttlSeconds));
    },
    async delete(key) {
      checkKey(key);
      await call('remove', () => object(key).remove());
    },
    async close() {},
  };
}
