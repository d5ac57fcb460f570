/**
 * The DynamoDB store with the real AWS SDK client against dynalite on loopback: the contract
 * (three stores, three clients, one table, opened through select.ts as TH_SESSION_STORE and
 * TH_SESSION_STORE_ENDPOINT name them), the item it writes (key, value, TTL attribute in epoch
 * seconds), an expired item DynamoDB has not deleted yet read as absent (dynalite never deletes
 * by TTL, as DynamoDB may not for days), a missing table, and failure: dynalite stopped or hung
 * gives a clear error within the store's timeouts, and the store recovers when it is back; a
 * compare-and-set whose answer was lost and that the SDK retried is reported as unknown.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError, type SessionStore } from '../../src/core/ports.js';
import { DynamoDbStore, type DynamoDbStoreOptions } from '../../src/stores/dynamodb.js';
import { DYNAMODB_TABLE } from '../../src/stores/dynamodb-table.js';
import { selectSessionStore, type OpenedStore } from '../../src/stores/select.js';
import { describeStoreContract, eventually, uniqueKey } from './contract.js';
import { createTable, Dynalite, DynaliteProcess, TEST_CREDENTIALS, TEST_REGION } from './dynalite-server.js';
import { FaultyRelay } from './faulty-relay.js';

const TABLE = 'th-sessions-test';
const SHORT = { connectTimeoutMs: 200, requestTimeoutMs: 200, operationTimeoutMs: 500 };

let dynamo: Dynalite;
const opened: OpenedStore[] = [];

function openStore(endpoint: string, options: Partial<DynamoDbStoreOptions> = {}): DynamoDbStore {
  const store = new DynamoDbStore({ table: TABLE, region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS, ...options });
  opened.push(store);
  return store;
}

/** The item as DynamoDB holds it, read with a client of its own. */
async function rawItem(endpoint: string, key: string) {
  const client = new DynamoDBClient({ region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS });
  try {
    return (await client.send(new GetItemCommand({ TableName: TABLE, Key: { [DYNAMODB_TABLE.keyAttribute]: { S: key } }, ConsistentRead: true }))).Item;
  } finally {
    client.destroy();
  }
}

beforeAll(async () => {
  dynamo = await Dynalite.start();
  await createTable(dynamo.endpoint, TABLE);
  for (let i = 0; i < 3; i += 1) {
    opened.push(await selectSessionStore(`dynamodb://${TABLE}?region=${TEST_REGION}`, dynamo.endpoint, { awsCredentials: TEST_CREDENTIALS }));
  }
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await dynamo?.stop();
});

let next = 0;
describeStoreContract('dynamodb (dynalite)', (): SessionStore => opened[next++ % 3]!);

describe('dynamodb store', () => {
  it('writes one item per key: the key, the value, and the TTL attribute in whole epoch seconds rounded up', async () => {
    const now = Date.UTC(2026, 5, 1, 12, 0, 0, 250);
    const store = openStore(dynamo.endpoint, { clock: () => now });
    const key = uniqueKey('item');
    await store.put(key, 'value', 60);
    expect(await rawItem(dynamo.endpoint, key)).toEqual({
      [DYNAMODB_TABLE.keyAttribute]: { S: key },
      [DYNAMODB_TABLE.valueAttribute]: { S: 'value' },
      [DYNAMODB_TABLE.ttlAttribute]: { N: String(Math.ceil((now + 60_000) / 1000)) },
    });
    expect(await store.compareAndSet(key, 'value', 'next', 5)).toBe(true);
    expect((await rawItem(dynamo.endpoint, key))?.[DYNAMODB_TABLE.ttlAttribute]).toEqual({ N: String(Math.ceil((now + 5_000) / 1000)) });
  });

  it('reads an item past its TTL that DynamoDB has not deleted yet as absent, for get and compare-and-set alike', async () => {
    let now = Date.UTC(2026, 5, 1, 12, 0, 0, 0);
    const store = openStore(dynamo.endpoint, { clock: () => now });
    const key = uniqueKey('expired');
    await store.put(key, 'old', 60);
    now += 59_999;
    expect(await store.get(key)).toBe('old');
    now += 1;
    expect(await rawItem(dynamo.endpoint, key)).toBeDefined();
    expect(await store.get(key)).toBeUndefined();
    expect(await store.compareAndSet(key, 'old', 'revived', 60)).toBe(false);
    expect(await store.compareAndSet(key, undefined, 'new', 60)).toBe(true);
    expect(await store.get(key)).toBe('new');
  });

  it('reports a missing table by name and region', async () => {
    const store = openStore(dynamo.endpoint, { table: 'no-such-table' });
    await expect(store.get(uniqueKey('missing'))).rejects.toThrow(new StoreUnavailableError('DynamoDB GetItem failed (table no-such-table in us-east-1): ResourceNotFoundException'));
    await expect(store.compareAndSet(uniqueKey('missing'), undefined, 'v', 60)).rejects.toThrow(StoreUnavailableError);
  });

  it("uses the global table's replica in the region it runs in, else the first region named", async () => {
    const setting = 'dynamodb://no-such-table?region=eu-west-1,us-east-1,ap-northeast-1';
    const options = { awsCredentials: TEST_CREDENTIALS };
    const local = await selectSessionStore(setting, dynamo.endpoint, { ...options, awsRegion: 'ap-northeast-1' });
    const elsewhere = await selectSessionStore(setting, dynamo.endpoint, { ...options, awsRegion: 'sa-east-1' });
    opened.push(local, elsewhere);
    await expect(local.get('k')).rejects.toThrow('(table no-such-table in ap-northeast-1)');
    await expect(elsewhere.get('k')).rejects.toThrow('(table no-such-table in eu-west-1)');
  });

  it('reports a compare-and-set whose answer was lost as unknown, not as lost, when the retry finds its own write', async () => {
    const relay = await FaultyRelay.start(dynamo.port);
    try {
      const store = openStore(`http://127.0.0.1:${relay.port}`);
      const key = uniqueKey('lost-answer');
      relay.dropNextAnswer();
      await expect(store.compareAndSet(key, undefined, 'mine', 60)).rejects.toThrow(
        new StoreUnavailableError('DynamoDB PutItem failed (table th-sessions-test in us-east-1): retried, so whether it wrote is unknown'),
      );
      // It had written: the first attempt reached DynamoDB.
      expect(await store.get(key)).toBe('mine');
      // A put that is retried the same way is simply done.
      relay.dropNextAnswer();
      await store.put(key, 'again', 60);
      expect(await store.get(key)).toBe('again');
    } finally {
      await relay.close();
    }
  });

  it('reports dynalite stopped within its timeouts, and recovers when it is back', async () => {
    const own = await Dynalite.start();
    try {
      await createTable(own.endpoint, TABLE);
      const store = openStore(own.endpoint, SHORT);
      const key = uniqueKey('stopped');
      await store.put(key, 'before', 60);
      await own.stop();
      const failure = await store.get(key).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect((failure as Error).message).toMatch(/^DynamoDB GetItem failed \(table th-sessions-test in us-east-1\): .*ECONNREFUSED/);
      await expect(store.compareAndSet(key, undefined, 'v', 60)).rejects.toThrow(StoreUnavailableError);
      // Back on the same port, empty (dynalite keeps nothing here): the table is made again.
      await own.startAgain();
      await createTable(own.endpoint, TABLE);
      await eventually(() => store.put(key, 'after', 60));
      expect(await store.get(key)).toBe('after');
      expect(await store.compareAndSet(key, 'after', 'again', 60)).toBe(true);
    } finally {
      await own.stop();
    }
  });

  it('gives up on a hung DynamoDB after the operation timeout, and carries on when it answers again', async () => {
    const own = await DynaliteProcess.start();
    try {
      await createTable(own.endpoint, TABLE);
      const store = openStore(own.endpoint, SHORT);
      const key = uniqueKey('hung');
      await store.put(key, 'value', 60);
      own.pause();
      try {
        await expect(store.get(key)).rejects.toThrow(new StoreUnavailableError('DynamoDB GetItem failed (table th-sessions-test in us-east-1): no answer within 500 ms'));
        await expect(store.compareAndSet(key, 'value', 'next', 60)).rejects.toThrow('DynamoDB PutItem failed (table th-sessions-test in us-east-1): no answer within 500 ms');
      } finally {
        own.resume();
      }
      expect(await eventually(() => store.get(key))).toMatch(/^(value|next)$/);
    } finally {
      await own.stop();
    }
  });
});
