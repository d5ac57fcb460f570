/**
 * The Durable Object store inside workerd: the SESSION_STORE binding and its SQLite-backed class
 * come from wrangler.toml and the Worker's entry, as deployed. The store contract runs against
 * it (every call a real request to the object named after the key), and the object's own clean-up:
 * its alarm deletes an expired entry's storage, and keeps an entry that was rewritten since.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { durableObjectStore, type DurableObjectNamespaceLike } from '../../../src/stores/durable-object.js';
import { describeStoreContract, uniqueKey } from '../../stores/contract.js';

declare module 'cloudflare:test' {
  /** Runs `callback` inside the object behind `stub`, with its state. */
  export function runInDurableObject<R>(stub: unknown, callback: (instance: unknown, state: { storage: { kv: { get(key: string): unknown; list(): Iterable<[string, unknown]> }; getAlarm(): Promise<number | null> } }) => R | Promise<R>): Promise<R>;
  /** Runs the object's alarm now if one is set; true when it ran. */
  export function runDurableObjectAlarm(stub: unknown): Promise<boolean>;
}

const namespace = env['SESSION_STORE'] as DurableObjectNamespaceLike;
const store = durableObjectStore(namespace);
const stubFor = (key: string) => namespace.get(namespace.idFromName(key) as never);

it('is bound from wrangler.toml', () => {
  expect(typeof namespace.idFromName).toBe('function');
});

describeStoreContract('durable-object (workerd)', () => store);

describe('SessionStoreObject', () => {
  it('answers 400 to a request that is not one of its operations, and stores nothing', async () => {
    const key = uniqueKey('bad-request');
    const stub = stubFor(key);
    const send = (body: string) => stub.fetch(new Request('https://session-store.invalid/', { method: 'POST', body }));
    for (const body of ['', 'not json', '{}', '{"op":"drop"}', '{"op":"write","value":1,"ttlSeconds":60}', '{"op":"write","value":"v","ttlSeconds":0}', '{"op":"swap","value":"v","ttlSeconds":60}']) {
      expect((await send(body)).status, body).toBe(400);
    }
    expect(await store.get(key)).toBeUndefined();
  });

  it('sets an alarm at the expiry, which deletes the expired entry from storage', async () => {
    const key = uniqueKey('alarm');
    await store.put(key, 'value', 1);
    const stub = stubFor(key);
    const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    // Wait until the entry has expired, then let the alarm run.
    for (let poll = 0; (await store.get(key)) !== undefined; poll += 1) {
      if (poll > 100) throw new Error('never expired');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await runDurableObjectAlarm(stub);
    expect(await runInDurableObject(stub, (_, state) => [...state.storage.kv.list()].length)).toBe(0);
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBeNull();
  });

  it('keeps an entry rewritten with a longer TTL when an earlier alarm runs', async () => {
    const key = uniqueKey('alarm-kept');
    await store.put(key, 'short', 1);
    await store.put(key, 'long', 3600);
    const stub = stubFor(key);
    await runDurableObjectAlarm(stub);
    expect(await store.get(key)).toBe('long');
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it('removes the alarm with the entry on delete', async () => {
    const key = uniqueKey('alarm-delete');
    await store.put(key, 'value', 3600);
    await store.delete(key);
    const stub = stubFor(key);
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });
});
