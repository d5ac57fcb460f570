/**
 * `TH_SESSION_STORE=durable-object`, on Cloudflare Workers: each key is its own Durable Object
 * (SessionStoreObject in src/adapters/workers/session-store-object.ts), reached through the
 * SESSION_STORE binding with one JSON request per call. Cloudflare runs one instance of an object
 * at a time, worldwide, and it handles one request at a time, so compare-and-set is
 * single-threaded for every Worker instance. Each call is bounded by `timeoutMs`.
 *
 * No Node API and no client library: this is what the Worker imports.
 */
import { StoreUnavailableError } from '../core/ports.js';
import { checkCompareAndSet, checkKey, checkWrite } from './entry-rules.js';
import type { OpenedStore } from './select.js';

export const DEFAULT_TIMEOUT_MS = 3_000;

/** The part of a Durable Object stub the store uses. */
export interface DurableObjectStubLike {
  fetch(request: Request): Promise<Response>;
}

/** The part of a `DurableObjectNamespace` binding the store uses. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): DurableObjectStubLike;
}

/** The object's operations (SessionStoreRequest there); `expected: null` means no entry. */
type Operation =
  | { op: 'read' }
  | { op: 'write'; value: string; ttlSeconds: number }
  | { op: 'swap'; expected: string | null; value: string; ttlSeconds: number }
  | { op: 'remove' };

export function durableObjectStore(namespace: DurableObjectNamespaceLike, options: { timeoutMs?: number } = {}): OpenedStore {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const call = async (key: string, operation: Operation): Promise<{ value?: string | null; written?: boolean }> => {
    // A stub is cheap and per key; the object it names lives wherever Cloudflare first placed it.
    const stub = namespace.get(namespace.idFromName(key) as never);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`Durable Object ${operation.op} failed: no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const send = async () => {
        // The host is a placeholder: a stub routes to its object whatever the URL says.
        const response = await stub.fetch(new Request('https://session-store.invalid/', { method: 'POST', body: JSON.stringify(operation), headers: { 'content-type': 'application/json' } }));
        if (response.status !== 200) throw new StoreUnavailableError(`Durable Object ${operation.op} failed: status ${response.status}`);
        return (await response.json()) as { value?: string | null; written?: boolean };
      };
      return await Promise.race([send(), timeout]);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      // Cloudflare marks its errors retryable (the object was reset) or overloaded; the message may quote more.
      const flags = ['retryable', 'overloaded'].filter((flag) => (error as Record<string, unknown> | null)?.[flag] === true);
      const what = `${error instanceof Error ? error.name : 'unknown error'}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`;
      throw new StoreUnavailableError(`Durable Object ${operation.op} failed: ${what}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    async get(key) {
      checkKey(key);
      return (await call(key, { op: 'read' })).value ?? undefined;
    },
    async put(key, value, ttlSeconds) {
      checkWrite(key, value, ttlSeconds);
      await call(key, { op: 'write', value, ttlSeconds });
    },
    async compareAndSet(key, expected, value, ttlSeconds) {
      checkCompareAndSet(key, expected, value, ttlSeconds);
      return (await call(key, { op: 'swap', expected: expected ?? null, value, ttlSeconds })).written === true;
    },
    async delete(key) {
      checkKey(key);
      await call(key, { op: 'remove' });
    },
    async close() {},
  };
}
