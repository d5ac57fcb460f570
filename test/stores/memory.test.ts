/**
 * The memory store: the contract with an injected clock (expiry to the millisecond), and its bound:
 * a full store refuses new keys (fail closed) instead of evicting a live entry such as a revocation.
 */
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/ports.js';
import { DEFAULT_MAX_ENTRIES, MemoryStore } from '../../src/stores/memory.js';
import { describeStoreContract } from './contract.js';

let now = Date.UTC(2026, 0, 1);
const shared = new MemoryStore({ clock: () => now });
describeStoreContract('memory', () => shared, {
  advance: (milliseconds) => {
    now += milliseconds;
  },
});

describe('memory store bound', () => {
  function small(maxEntries: number) {
    const clock = { now: Date.UTC(2026, 0, 1) };
    return { clock, store: new MemoryStore({ maxEntries, clock: () => clock.now }) };
  }

  it('holds 100,000 entries by default', () => {
    expect(DEFAULT_MAX_ENTRIES).toBe(100_000);
  });

  it('refuses a new key when full of live entries, and keeps every live entry', async () => {
    const { store } = small(3);
    for (const key of ['a', 'b', 'c']) await store.put(key, key, 60);
    await expect(store.put('d', 'd', 60)).rejects.toThrow(StoreUnavailableError);
    await expect(store.put('d', 'd', 60)).rejects.toThrow('The memory session store is full (3 live entries)');
    await expect(store.compareAndSet('d', undefined, 'd', 60)).rejects.toThrow(StoreUnavailableError);
    expect([await store.get('a'), await store.get('b'), await store.get('c'), await store.get('d')]).toEqual(['a', 'b', 'c', undefined]);
    // Keys it holds can still be rewritten, and a delete makes room.
    await store.put('a', 'a2', 60);
    expect(await store.compareAndSet('b', 'b', 'b2', 60)).toBe(true);
    await store.delete('c');
    await store.put('d', 'd', 60);
    expect(await store.get('d')).toBe('d');
  });

  it('makes room by dropping expired entries first', async () => {
    const { clock, store } = small(3);
    await store.put('short', 'x', 1);
    await store.put('long-1', 'x', 60);
    await store.put('long-2', 'x', 60);
    clock.now += 1000;
    await store.put('new', 'x', 60);
    expect(store.size).toBe(3);
    expect(await store.get('short')).toBeUndefined();
    expect(await store.get('long-1')).toBe('x');
  });

  it('sees an entry that expires sooner than any it had when it last found itself full', async () => {
    const { clock, store } = small(2);
    await store.put('long-1', 'x', 600);
    await store.put('long-2', 'x', 600);
    await expect(store.put('refused', 'x', 60)).rejects.toThrow(StoreUnavailableError);
    await store.delete('long-2');
    await store.put('short', 'x', 1);
    clock.now += 1000;
    await store.put('after', 'x', 60);
    expect(await store.get('after')).toBe('x');
  });

  it('refuses a bound that is not a positive whole number', () => {
    for (const bad of [0, -1, 1.5]) expect(() => new MemoryStore({ maxEntries: bad })).toThrow(RangeError);
  });
});
