/**
 * `TH_SESSION_STORE` (and `TH_SESSION_STORE_ENDPOINT`) → a session store (contract §6). Parsing
 * is pure and imports nothing, so configuration checks can use it anywhere; each store's module
 * (and its client: node-redis, the AWS SDK) is imported only when that store is chosen.
 *
 *   memory                                     this process only (the default on Node)
 *   redis://[user:password@]host[:port][/db]   Redis or Valkey; rediss:// for TLS;
 *     ?cluster=true                            the host is a seed node of a Redis/Valkey cluster
 *   durable-object                             the Worker's SESSION_STORE Durable Object binding
 *   dynamodb://<table>?region=<r>[,<r>…]       DynamoDB; several regions name a global table's
 *                                              replicas, and the one this instance runs in is used
 *                                              (else the first)
 *
 * The Worker must not import this file (its bundle would then hold the Redis and AWS clients): it
 * checks for `durable-object` itself and calls `durableObjectStore` from ./durable-object.js.
 */
import type { Clock, SessionStore } from '../core/ports.js';
import type { StoreSetting } from '../core/types.js';
import { parseStoreSetting } from '../config/session-store.js';
import type { DurableObjectNamespaceLike } from './durable-object.js';

export { parseStoreSetting, type ParsedStoreSetting } from '../config/session-store.js';
export type { RedisTarget, StoreSetting } from '../core/types.js';

/** What a platform hands over for the stores it can open. */
export interface StoreContext {
  readonly clock?: Clock;
  /** The memory store's bound (default 100,000 entries). */
  readonly maxEntries?: number;
  /** The Worker's `SESSION_STORE` binding, for `durable-object`. */
  readonly durableObjects?: DurableObjectNamespaceLike;
  /** The region this instance runs in (AWS_REGION), to pick a global table's nearest replica. */
  readonly awsRegion?: string;
  /** Tests only: credentials for a DynamoDB endpoint override (else the SDK's default chain). */
  readonly awsCredentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** For rediss:// with a private CA (PEM). */
  readonly redisCa?: string;
}

/** A store this process opened, with its connection to close on shutdown. */
export type OpenedStore = SessionStore & { close(): Promise<void> };

/**
 * Opens the store `value` names. Throws an Error listing the problems for a bad setting. Opening
 * does not wait for the engine: a store that is down answers each call with StoreUnavailableError
 * and recovers by itself when the engine is back.
 */
export async function selectSessionStore(value: string, endpoint: string | undefined, context: StoreContext = {}): Promise<OpenedStore> {
  const parsed = parseStoreSetting(value, endpoint);
  if (!parsed.setting) throw new Error(`Invalid session store settings:\n${parsed.problems.map((p) => `  - ${p}`).join('\n')}`);
  return openStore(parsed.setting, context);
}

/**
 * The store of an already parsed setting (`config.sessionStore`), usable at once: each call waits
 * for the store's module to load, so a synchronous start-up (createNodeTokenHandler) can take it.
 */
export function openSessionStore(setting: StoreSetting, context: StoreContext = {}): OpenedStore {
  const opened = openStore(setting, context);
  // A failure to open is seen by the first call (and close), not as an unhandled rejection.
  opened.catch(() => undefined);
  return {
    get: async (key) => (await opened).get(key),
    put: async (key, value, ttl) => (await opened).put(key, value, ttl),
    compareAndSet: async (key, expected, value, ttl) => (await opened).compareAndSet(key, expected, value, ttl),
    delete: async (key) => (await opened).delete(key),
    close: async () => (await opened).close(),
  };
}

async function openStore(setting: StoreSetting, context: StoreContext): Promise<OpenedStore> {
  switch (setting.kind) {
    case 'memory': {
      const { MemoryStore } = await import('./memory.js');
      return new MemoryStore({ ...(context.clock ? { clock: context.clock } : {}), ...(context.maxEntries ? { maxEntries: context.maxEntries } : {}) });
    }
    case 'redis': {
      const { RedisStore } = await import('./redis.js');
      return new RedisStore({ target: setting.target, ...(context.redisCa ? { ca: context.redisCa } : {}) });
    }
    case 'durable-object': {
      if (!context.durableObjects) throw new Error(`TH_SESSION_STORE=durable-object needs the SESSION_STORE Durable Object binding (wrangler.toml), which only a Worker has`);
      const { durableObjectStore } = await import('./durable-object.js');
      return durableObjectStore(context.durableObjects);
    }
    case 'dynamodb': {
      const { DynamoDbStore } = await import('./dynamodb.js');
      const region = context.awsRegion && setting.regions.includes(context.awsRegion) ? context.awsRegion : setting.regions[0]!;
      return new DynamoDbStore({
        table: setting.table,
        region,
        ...(setting.endpoint ? { endpoint: setting.endpoint } : {}),
        ...(context.awsCredentials ? { credentials: context.awsCredentials } : {}),
        ...(context.clock ? { clock: context.clock } : {}),
      });
    }
  }
}
