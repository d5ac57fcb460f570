/**
 * The one contract every SessionStore meets (src/core/ports.ts), run against each real engine:
 * memory (test/stores/memory.test.ts), Redis and a Redis cluster (redis.test.ts), DynamoDB through
 * dynalite (dynamodb.test.ts) and the Durable Object inside workerd
 * (test/runtime/workers/session-store.test.ts). Runtime-neutral: vitest and Web APIs only.
 *
 * Time: with `advance` (an injected clock) expiry is exact; against a real engine an entry with a
 * 1-second TTL is polled until it is gone, a bounded number of times, and a long-lived entry
 * written at the same moment must still be there then. No assertion reads a wall clock.
 */
import { describe, expect, it } from 'vitest';
import { STORE_LIMITS, type SessionStore } from '../../src/core/ports.js';

export interface ContractOptions {
  /** Moves the store's clock forward; absent: the engine's own time passes. */
  readonly advance?: (milliseconds: number) => void;
  /** How many racers the concurrency tests start (default 20). */
  readonly racers?: number;
}

const POLL_INTERVAL_MS = 100;
const MAX_POLLS = 100;
const LONG_TTL = 3600;

/** Values a sealed cookie will never hold, but a store must carry unchanged all the same. */
export const AWKWARD_VALUES: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\n',
  '\r\n\t',
  '"quoted" \'single\' `back`',
  '\\ backslash \\\\',
  '%s %d %n {0} ${x} $1',
  ']]--[[ lua ]==] nil false 0 1',
  '{"json": [1, "two", null]}',
  '<script>&amp;</script>',
  'é ß Ω Ж 中文 日本語 한국어',
  'עברית العربية',
  'e\u0301 combining',
  '😀 👩‍👩‍👧 🏳️‍🌈',
  '\u2028\u2029\u200b\ufeff\ufffd',
  '\u{10ffff}\u{1f600}',
  ' leading and trailing ',
  'x'.repeat(1000),
];

let counter = 0;
/** A key no other test (nor an earlier run against the same engine) uses. */
export function uniqueKey(label: string): string {
  counter += 1;
  return `t-${label}-${counter}-${crypto.randomUUID()}`;
}

async function sleep(milliseconds: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Retries `attempt` until it resolves, a bounded number of times (an engine coming back); its result. */
export async function eventually<T>(attempt: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let poll = 0; poll < MAX_POLLS; poll += 1) {
    try {
      return await attempt();
    } catch (error) {
      last = error;
      await sleep(POLL_INTERVAL_MS);
    }
  }
  throw new Error(`still failing after ${MAX_POLLS} attempts`, { cause: last });
}

/** Lets the TTL pass: moves the injected clock, or polls `key` until the engine has expired it. */
async function untilExpired(store: SessionStore, key: string, ttlSeconds: number, advance: ContractOptions['advance']): Promise<void> {
  if (advance) {
    advance(ttlSeconds * 1000);
    return;
  }
  for (let poll = 0; poll < MAX_POLLS; poll += 1) {
    if ((await store.get(key)) === undefined) return;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`${key} was still there after ${MAX_POLLS} polls`);
}

export function describeStoreContract(name: string, open: () => SessionStore, options: ContractOptions = {}): void {
  const racers = options.racers ?? 20;
  const { advance } = options;

  describe(`SessionStore contract: ${name}`, () => {
    it('reads nothing for a key never written', async () => {
      expect(await open().get(uniqueKey('absent'))).toBeUndefined();
    });

    it('reads back what was put, and a second put replaces it', async () => {
      const store = open();
      const key = uniqueKey('put');
      await store.put(key, 'first', LONG_TTL);
      expect(await store.get(key)).toBe('first');
      await store.put(key, 'second', LONG_TTL);
      expect(await store.get(key)).toBe('second');
    });

    it('keeps keys apart, case included', async () => {
      const store = open();
      const key = uniqueKey('apart');
      await store.put(key, 'lower', LONG_TTL);
      await store.put(key.toUpperCase(), 'upper', LONG_TTL);
      await store.put(`${key}-suffix`, 'suffix', LONG_TTL);
      expect([await store.get(key), await store.get(key.toUpperCase()), await store.get(`${key}-suffix`)]).toEqual(['lower', 'upper', 'suffix']);
      await store.delete(key);
      expect([await store.get(key), await store.get(key.toUpperCase())]).toEqual([undefined, 'upper']);
    });

    it('deletes, and deleting what is not there is no error', async () => {
      const store = open();
      const key = uniqueKey('delete');
      await store.put(key, 'value', LONG_TTL);
      await store.delete(key);
      expect(await store.get(key)).toBeUndefined();
      await expect(store.delete(key)).resolves.toBeUndefined();
      await expect(store.delete(uniqueKey('never'))).resolves.toBeUndefined();
    });

    it('forgets an entry once its TTL has passed, and keeps one written with a longer TTL', async () => {
      const store = open();
      const short = uniqueKey('ttl-short');
      const long = uniqueKey('ttl-long');
      const renewed = uniqueKey('ttl-renewed');
      await store.put(short, 'short-lived', 1);
      await store.put(long, 'long-lived', LONG_TTL);
      // A put replaces the TTL too: this one started short and was renewed.
      await store.put(renewed, 'old', 1);
      await store.put(renewed, 'renewed', LONG_TTL);
      expect(await store.get(short)).toBe('short-lived');
      if (advance) {
        advance(999);
        expect(await store.get(short)).toBe('short-lived');
        advance(1);
      } else {
        await untilExpired(store, short, 1, advance);
      }
      expect(await store.get(short)).toBeUndefined();
      expect(await store.get(long)).toBe('long-lived');
      expect(await store.get(renewed)).toBe('renewed');
    });

    it('compare-and-set: absent → value once; a second absent → value is refused', async () => {
      const store = open();
      const key = uniqueKey('cas-absent');
      expect(await store.compareAndSet(key, undefined, 'one', LONG_TTL)).toBe(true);
      expect(await store.get(key)).toBe('one');
      expect(await store.compareAndSet(key, undefined, 'two', LONG_TTL)).toBe(false);
      expect(await store.get(key)).toBe('one');
    });

    it('compare-and-set: value → value when the expected value is there', async () => {
      const store = open();
      const key = uniqueKey('cas-value');
      await store.put(key, 'generation-1', LONG_TTL);
      expect(await store.compareAndSet(key, 'generation-1', 'generation-2', LONG_TTL)).toBe(true);
      expect(await store.get(key)).toBe('generation-2');
      expect(await store.compareAndSet(key, 'generation-2', 'generation-3', LONG_TTL)).toBe(true);
      expect(await store.get(key)).toBe('generation-3');
    });

    it('compare-and-set: refuses a wrong expected value, and an expected value on an absent entry, changing nothing', async () => {
      const store = open();
      const key = uniqueKey('cas-wrong');
      await store.put(key, 'actual', LONG_TTL);
      expect(await store.compareAndSet(key, 'stale', 'mine', LONG_TTL)).toBe(false);
      // A prefix, a longer string and the empty string are all other values.
      expect(await store.compareAndSet(key, 'actua', 'mine', LONG_TTL)).toBe(false);
      expect(await store.compareAndSet(key, 'actual ', 'mine', LONG_TTL)).toBe(false);
      expect(await store.compareAndSet(key, '', 'mine', LONG_TTL)).toBe(false);
      expect(await store.get(key)).toBe('actual');

      const absent = uniqueKey('cas-wrong-absent');
      expect(await store.compareAndSet(absent, 'anything', 'mine', LONG_TTL)).toBe(false);
      expect(await store.compareAndSet(absent, '', 'mine', LONG_TTL)).toBe(false);
      expect(await store.get(absent)).toBeUndefined();
    });

    it('compare-and-set: an expired entry counts as absent, never as its old value', async () => {
      const store = open();
      const key = uniqueKey('cas-expired');
      const other = uniqueKey('cas-expired-other');
      await store.put(key, 'old', 1);
      await store.put(other, 'old', 1);
      await untilExpired(store, key, 1, advance);
      expect(await store.compareAndSet(key, 'old', 'new', LONG_TTL)).toBe(false);
      expect(await store.get(key)).toBeUndefined();
      // `other` was never read after it expired: the store itself must see it is gone.
      expect(await store.compareAndSet(other, undefined, 'new', LONG_TTL)).toBe(true);
      expect(await store.get(other)).toBe('new');
    });

    it('compare-and-set writes the TTL it is given', async () => {
      const store = open();
      const key = uniqueKey('cas-ttl');
      expect(await store.compareAndSet(key, undefined, 'lease', 1)).toBe(true);
      await untilExpired(store, key, 1, advance);
      expect(await store.get(key)).toBeUndefined();
    });

    it(`concurrent compare-and-set absent → value: of ${racers} racers exactly one wins`, async () => {
      const key = uniqueKey('race-absent');
      const results = await Promise.all(Array.from({ length: racers }, (_, i) => open().compareAndSet(key, undefined, `racer-${i}`, LONG_TTL)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await open().get(key)).toBe(`racer-${results.indexOf(true)}`);
    });

    it(`concurrent compare-and-set value → value: of ${racers} racers exactly one wins`, async () => {
      const key = uniqueKey('race-value');
      await open().put(key, 'generation-1', LONG_TTL);
      const results = await Promise.all(Array.from({ length: racers }, (_, i) => open().compareAndSet(key, 'generation-1', `racer-${i}`, LONG_TTL)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await open().get(key)).toBe(`racer-${results.indexOf(true)}`);
    });

    it('carries values with any characters unchanged, through put, get and compare-and-set', async () => {
      const store = open();
      for (const [index, value] of AWKWARD_VALUES.entries()) {
        const key = uniqueKey(`chars-${index}`);
        await store.put(key, value, LONG_TTL);
        expect(await store.get(key), JSON.stringify(value)).toBe(value);
        expect(await store.compareAndSet(key, `${value}-not`, 'x', LONG_TTL)).toBe(false);
        expect(await store.compareAndSet(key, value, `${value}-next`, LONG_TTL), JSON.stringify(value)).toBe(true);
        expect(await store.get(key)).toBe(`${value}-next`);
      }
    });

    it(`carries a value of exactly ${STORE_LIMITS.valueBytes} bytes in UTF-8`, async () => {
      const store = open();
      const key = uniqueKey('largest');
      // Four-byte characters, then two-byte ones: the bound is bytes, not UTF-16 units.
      const largest = '😀'.repeat(STORE_LIMITS.valueBytes / 8) + 'é'.repeat(STORE_LIMITS.valueBytes / 4);
      await store.put(key, largest, LONG_TTL);
      expect(await store.get(key)).toBe(largest);
    });

    it('refuses keys, values and TTLs outside the bounds every engine allows, before writing anything', async () => {
      const store = open();
      const key = uniqueKey('bounds');
      const badKeys = ['', 'has space', 'tab\there', 'é', 'x'.repeat(STORE_LIMITS.keyLength + 1), 'line\nbreak'];
      for (const bad of badKeys) {
        await expect(store.get(bad), JSON.stringify(bad)).rejects.toThrow(RangeError);
        await expect(store.put(bad, 'v', LONG_TTL)).rejects.toThrow(RangeError);
        await expect(store.compareAndSet(bad, undefined, 'v', LONG_TTL)).rejects.toThrow(RangeError);
        await expect(store.delete(bad)).rejects.toThrow(RangeError);
      }
      await expect(store.put('k'.repeat(STORE_LIMITS.keyLength), 'longest key', LONG_TTL)).resolves.toBeUndefined();
      await store.delete('k'.repeat(STORE_LIMITS.keyLength));

      const badValues = ['lone \ud800 surrogate', 'reversed \udc00\ud800 pair', 'é'.repeat(STORE_LIMITS.valueBytes / 2 + 1)];
      for (const bad of badValues) {
        await expect(store.put(key, bad, LONG_TTL)).rejects.toThrow(RangeError);
        await expect(store.compareAndSet(key, undefined, bad, LONG_TTL)).rejects.toThrow(RangeError);
        await expect(store.compareAndSet(key, bad, 'v', LONG_TTL)).rejects.toThrow(RangeError);
      }
      for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, STORE_LIMITS.ttlSeconds + 1]) {
        await expect(store.put(key, 'v', bad), String(bad)).rejects.toThrow(RangeError);
        await expect(store.compareAndSet(key, undefined, 'v', bad)).rejects.toThrow(RangeError);
      }
      expect(await store.get(key)).toBeUndefined();
      await expect(store.put(key, 'longest TTL', STORE_LIMITS.ttlSeconds)).resolves.toBeUndefined();
      expect(await store.get(key)).toBe('longest TTL');
    });
  });
}
