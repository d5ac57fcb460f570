/**
 * `TH_SESSION_STORE=dynamodb://<table>?region=<region>`: one DynamoDB item per key, written with
 * conditional writes (compare-and-set is a PutItem whose condition DynamoDB checks atomically),
 * read with strongly consistent reads, and carrying a TTL attribute. DynamoDB deletes expired
 * items only eventually (typically within days), so reads and conditions treat an item whose TTL
 * has passed as absent.
 *
 * A global table: every call goes to one replica (the region chosen in select.ts), where reads are
 * consistent and conditions atomic; between replicas DynamoDB replicates asynchronously with
 * last-writer-wins, so two regions' compare-and-sets of one key at the same moment may both
 * succeed, and the later write stands everywhere. Sessions stay in one region as long as their
 * requests reach one, which CloudFront's routing to the nearest region usually gives.
 *
 * Bounded: each attempt may take `connectTimeoutMs` to connect and `requestTimeoutMs` to answer,
 * there are at most two attempts, and the whole call is abandoned after `operationTimeoutMs`.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
  type PutItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError, type Clock, type SessionStore } from '../core/ports.js';
import { DYNAMODB_TABLE } from './dynamodb-table.js';
import { checkCompareAndSet, checkKey, checkWrite } from './entry-rules.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 1_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 1_000;
export const DEFAULT_OPERATION_TIMEOUT_MS = 3_000;

const { keyAttribute: KEY, valueAttribute: VALUE, ttlAttribute: TTL } = DYNAMODB_TABLE;

export interface DynamoDbStoreOptions {
  readonly table: string;
  readonly region: string;
  /** Another endpoint than AWS's (tests: dynalite on loopback). */
  readonly endpoint?: string;
  /** Else the SDK's default chain (on Lambda, the function's role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly clock?: Clock;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly operationTimeoutMs?: number;
}

export class DynamoDbStore implements SessionStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #clock: Clock;
  readonly #operationTimeoutMs: number;
  readonly #where: string;

  constructor(options: DynamoDbStoreOptions) {
    this.#table = options.table;
    this.#clock = options.clock ?? Date.now;
    this.#operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    this.#where = `table ${options.table} in ${options.region}`;
    this.#client = new DynamoDBClient({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
      // One retry (throttling, a 500, a dropped connection); the operation timeout bounds both.
      maxAttempts: 2,
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      },
    });
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    const { Item } = await this.#send('GetItem', (abortSignal) =>
      this.#client.send(new GetItemCommand({ TableName: this.#table, Key: keyOf(key), ConsistentRead: true }), { abortSignal }),
    );
    if (!Item) return undefined;
    const expiresAt = Number(Item[TTL]?.N);
    // Past its TTL but not yet deleted by DynamoDB, or written by something else: absent.
    if (!(expiresAt * 1000 > this.#clock())) return undefined;
    return Item[VALUE]?.S;
  }

  async put(key: string, value: string, ttlSeconds: number): Promise<void> {
    checkWrite(key, value, ttlSeconds);
    const Item = this.#item(key, value, ttlSeconds, this.#clock());
    await this.#send('PutItem', (abortSignal) => this.#client.send(new PutItemCommand({ TableName: this.#table, Item }), { abortSignal }));
  }

  async compareAndSet(key: string, expected: string | undefined, value: string, ttlSeconds: number): Promise<boolean> {
    checkCompareAndSet(key, expected, value, ttlSeconds);
    const nowMs = this.#clock();
    const now: AttributeValue = { N: String(Math.floor(nowMs / 1000)) };
    // An item past its TTL counts as absent, and never as the expected value.
    const condition: Pick<PutItemCommandInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> =
      expected === undefined
        ? { ConditionExpression: 'attribute_not_exists(#k) OR #x <= :now', ExpressionAttributeNames: { '#k': KEY, '#x': TTL }, ExpressionAttributeValues: { ':now': now } }
        : { ConditionExpression: '#v = :expected AND #x > :now', ExpressionAttributeNames: { '#v': VALUE, '#x': TTL }, ExpressionAttributeValues: { ':now': now, ':expected': { S: expected } } };
    const Item = this.#item(key, value, ttlSeconds, nowMs);
    return this.#send('PutItem', (abortSignal) =>
      this.#client.send(new PutItemCommand({ TableName: this.#table, Item, ...condition }), { abortSignal }).then(
        () => true,
        (error: unknown) => {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
          // A retry after a lost answer finds its own first write: whether it wrote is unknown.
          if ((error.$metadata.attempts ?? 1) > 1) throw new StoreUnavailableError(`DynamoDB PutItem failed (${this.#where}): retried, so whether it wrote is unknown`, { cause: error });
          return false;
        },
      ),
    );
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.#send('DeleteItem', (abortSignal) => this.#client.send(new DeleteItemCommand({ TableName: this.#table, Key: keyOf(key) }), { abortSignal }));
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  #item(key: string, value: string, ttlSeconds: number, nowMs: number): Record<string, AttributeValue> {
    // Whole seconds, rounded up: an entry is never gone before its TTL.
    const expiresAt = Math.ceil((nowMs + ttlSeconds * 1000) / 1000);
    return { ...keyOf(key), [VALUE]: { S: value }, [TTL]: { N: String(expiresAt) } };
  }

  async #send<T>(operation: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.#operationTimeoutMs);
    try {
      return await call(signal);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      const what = signal.aborted ? `no answer within ${this.#operationTimeoutMs} ms` : describe(error);
      throw new StoreUnavailableError(`DynamoDB ${operation} failed (${this.#where}): ${what}`, { cause: error });
    }
  }
}

function keyOf(key: string): Record<string, AttributeValue> {
  return { [KEY]: { S: key } };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} ${code}` : error.name;
}
