/**
 * `TH_SESSION_STORE` and `TH_SESSION_STORE_ENDPOINT` (contract §6), checked and read. Pure: the
 * schema, the CLI and src/stores/select.ts (which opens the store) all use it. Problems name the
 * setting and what is wrong, never its value: a Redis URL may hold a password.
 */
import { isLoopbackHost, type StoreSetting } from '../core/types.js';

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

/** The schema's reader of TH_SESSION_STORE alone (the endpoint is checked against it in parse.ts). */
export function parseStoreKind(value: string, _name: string, problems: string[]): StoreSetting | undefined {
  const parsed = parseStoreSetting(value);
  if (parsed.problems) problems.push(...parsed.problems);
  return parsed.setting;
}

/** The schema's reader of TH_SESSION_STORE_ENDPOINT alone: an https origin (http on loopback). */
export function parseStoreEndpoint(value: string, _name: string, problems: string[]): string {
  checkEndpoint(value, problems);
  return value;
}

/** Which stores each platform can open: the Redis client cannot run in a Worker, nor reach a VPC from Lambda@Edge. */
export const STORES_BY_PLATFORM = {
  node: ['memory', 'redis', 'dynamodb'],
  workers: ['memory', 'durable-object'],
  'lambda-edge': ['memory', 'dynamodb'],
} as const satisfies Record<string, readonly StoreSetting['kind'][]>;

