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
import { isLoopbackHost } from '../core/types.js';
import type { DurableObjectNamespaceLike } from './durable-object.js';

export interface RedisTarget {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly database: number;
  readonly cluster: boolean;
}

export type StoreSetting =
  | { readonly kind: 'memory' }
  | { readonly kind: 'redis'; readonly target: RedisTarget }
  | { readonly kind: 'durable-object' }
  | { readonly kind: 'dynamodb'; readonly table: string; readonly regions: readonly string[]; readonly endpoint?: string };

export type ParsedStoreSetting = { readonly setting: StoreSetting; readonly problems?: undefined } | { readonly setting?: undefined; readonly problems: readonly string[] };

const NAME = 'TH_SESSION_STORE';
const ENDPOINT_NAME = 'TH_SESSION_STORE_ENDPOINT';
const FORMS = 'memory, redis://…, rediss://…, durable-object or dynamodb://<table>?region=<region>';
const TABLE = /^[A-Za-z0-9_.-]{3,255}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const DATABASE = /^(?:\/\d{0,5})?$/;

/**
 * Checks the two settings and reads them. Problems name the setting and what is wrong, never its
 * value: a Redis URL may hold a password.
 */
export function parseStoreSetting(value: string, endpoint?: string): ParsedStoreSetting {
  const problems: string[] = [];
  let setting: StoreSetting | undefined;
  if (value === 'memory' || value === 'durable-object') setting = { kind: value };
  else if (value.startsWith('redis://') || value.startsWith('rediss://')) setting = parseRedis(value, problems);
  else if (value.startsWith('dynamodb://')) setting = parseDynamoDb(value, endpoint, problems);
  else problems.push(`${NAME} must be one of ${FORMS}`);
  if (endpoint !== undefined && setting && setting.kind !== 'dynamodb') problems.push(`${ENDPOINT_NAME} is only for a dynamodb:// ${NAME}`);
  return problems.length > 0 || !setting ? { problems } : { setting };
}

function parseRedis(value: string, problems: string[]): StoreSetting | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${NAME} is not a valid redis:// or rediss:// URL`);
    return undefined;
  }
  const before = problems.length;
  if (!url.hostname) problems.push(`${NAME} must name the Redis host`);
  if (url.hash) problems.push(`${NAME} must not have a #fragment`);
  if (!DATABASE.test(url.pathname)) problems.push(`${NAME}'s path must be empty or a database number, as in redis://host:6379/0`);
  const database = Number(url.pathname.slice(1) || '0');
  let cluster = false;
  for (const [name, option] of url.searchParams) {
    if (name === 'cluster' && (option === 'true' || option === 'false')) cluster = option === 'true';
    else problems.push(`${NAME} has an unknown option "${name}" (only cluster=true or cluster=false)`);
  }
  if (cluster && database !== 0) problems.push(`${NAME}: a Redis cluster has only database 0`);
  if (problems.length > before) return undefined;
  const decode = (part: string) => (part === '' ? undefined : decodeURIComponent(part));
  const username = decode(url.username);
  const password = decode(url.password);
  return {
    kind: 'redis',
    target: {
      tls: url.protocol === 'rediss:',
      // An IPv6 literal keeps its brackets in URL.hostname; sockets want it bare.
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : 6379,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      database,
      cluster,
    },
  };
}

function parseDynamoDb(value: string, endpoint: string | undefined, problems: string[]): StoreSetting | undefined {
  const match = /^dynamodb:\/\/([^/?#]*)\?region=([^&#]*)$/.exec(value);
  if (!match) {
    problems.push(`${NAME} must be dynamodb://<table>?region=<region>, with nothing else`);
    return undefined;
  }
  const before = problems.length;
  const table = match[1]!;
  const regions = match[2]!.split(',');
  if (!TABLE.test(table)) problems.push(`${NAME}: a DynamoDB table name is 3 to 255 of A-Z a-z 0-9 _ . -`);
  if (!regions.every((region) => REGION.test(region))) problems.push(`${NAME}: region must be an AWS region such as us-east-1, or several separated by commas`);
  else if (new Set(regions).size !== regions.length) problems.push(`${NAME} names a region twice`);
  if (endpoint !== undefined) checkEndpoint(endpoint, problems);
  if (problems.length > before) return undefined;
  return { kind: 'dynamodb', table, regions, ...(endpoint !== undefined ? { endpoint } : {}) };
}

function checkEndpoint(endpoint: string, problems: string[]): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    problems.push(`${ENDPOINT_NAME} must be an absolute URL`);
    return;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    problems.push(`${ENDPOINT_NAME} must be an https URL (http is allowed only for localhost/127.0.0.1)`);
  } else if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    problems.push(`${ENDPOINT_NAME} must be an origin only (scheme, host, port), without credentials, path or query`);
  }
}

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
  const { setting } = parsed;
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
      if (!context.durableObjects) throw new Error(`${NAME}=durable-object needs the SESSION_STORE Durable Object binding (wrangler.toml), which only a Worker has`);
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
