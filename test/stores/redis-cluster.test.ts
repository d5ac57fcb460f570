/**
 * The Redis store in cluster mode (`?cluster=true`) against a real three-node Redis Cluster made
 * of Debian's redis-server on loopback (no replicas): the contract, keys spread over every node
 * (each routed to the node that owns its slot, the compare-and-set script included), any node as
 * the seed, and one node down: its keys fail within the timeouts, the others' keys still work, and
 * its keys work again once it is back. Not tested here: failover to a replica and slot migration
 * (MOVED/ASK while resharding), which node-redis handles and this store leaves to it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/ports.js';
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis.js';
import { describeStoreContract, eventually, uniqueKey } from './contract.js';
import { redisTarget, RedisServer } from './redis-server.js';

const run = promisify(execFile);
const STATE_POLLS = 100;

let nodes: RedisServer[] = [];
const opened: RedisStore[] = [];

function openStore(seed: RedisServer, options: Omit<RedisStoreOptions, 'target'> = {}): RedisStore {
  const store = new RedisStore({ target: redisTarget(`redis://127.0.0.1:${seed.port}?cluster=true`), ...options });
  opened.push(store);
  return store;
}

/** The node that holds `key`: the others answer MOVED. */
async function owner(key: string): Promise<RedisServer> {
  for (const node of nodes) if (!(await node.cli('GET', `th:${key}`)).startsWith('MOVED')) return node;
  throw new Error(`no node owns ${key}`);
}

beforeAll(async () => {
  const clusterArgs = () => ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'no'];
  nodes = await Promise.all([0, 1, 2].map(() => RedisServer.start({ clusterPort: true, args: clusterArgs })));
  await run('/usr/bin/redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
  for (let poll = 0; ; poll += 1) {
    const states = await Promise.all(nodes.map((n) => n.cli('CLUSTER', 'INFO')));
    if (states.every((info) => info.includes('cluster_state:ok'))) break;
    if (poll >= STATE_POLLS) throw new Error(`the cluster did not come up: ${states.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await Promise.all(nodes.map((node) => node.close()));
});

let instances: RedisStore[] = [];
let next = 0;
describeStoreContract('redis cluster', () => {
  // Three instances, each seeded with a different node.
  if (instances.length === 0) instances = nodes.map((seed) => openStore(seed));
  return instances[next++ % instances.length]!;
});

describe('redis store in cluster mode', () => {
  it('spreads keys over every node, each written and swapped on the node that owns it', async () => {
    const store = openStore(nodes[0]!);
    const keys = Array.from({ length: 30 }, () => uniqueKey('spread'));
    await Promise.all(keys.map((key) => store.put(key, `value of ${key}`, 60)));
    const owners = new Map<number, number>();
    for (const key of keys) {
      const node = await owner(key);
      expect(await node.cli('GET', `th:${key}`)).toBe(`value of ${key}`);
      owners.set(node.port, (owners.get(node.port) ?? 0) + 1);
    }
    expect([...owners.keys()].sort()).toEqual(nodes.map((n) => n.port).sort());
    for (const key of keys) expect(await store.compareAndSet(key, `value of ${key}`, 'swapped', 60)).toBe(true);
    for (const key of keys) expect(await (await owner(key)).cli('GET', `th:${key}`)).toBe('swapped');
  });

  it('fails the keys of a node that is down within its timeouts, serves the rest, and recovers', async () => {
    const store = openStore(nodes[0]!, { connectTimeoutMs: 300, commandTimeoutMs: 300 });
    const down = nodes[2]!;
    const keys = Array.from({ length: 30 }, () => uniqueKey('node-down'));
    await Promise.all(keys.map((key) => store.put(key, 'before', 60)));
    const onDown: string[] = [];
    const elsewhere: string[] = [];
    for (const key of keys) ((await owner(key)) === down ? onDown : elsewhere).push(key);
    expect(onDown.length).toBeGreaterThan(0);

    await down.stop();
    try {
      for (const key of onDown.slice(0, 3)) {
        const failure = await store.get(key).catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(StoreUnavailableError);
        expect((failure as Error).message).toMatch(/^Redis cluster GET failed: /);
      }
      for (const key of elsewhere) expect(await store.get(key)).toBe('before');
    } finally {
      // Same port and nodes.conf: it rejoins with its slots (and without its keys: no persistence).
      await down.startAgain();
    }
    await eventually(() => store.put(onDown[0]!, 'after', 60));
    expect(await store.get(onDown[0]!)).toBe('after');
    expect(await store.compareAndSet(onDown[0]!, 'after', 'again', 60)).toBe(true);
  });
});
