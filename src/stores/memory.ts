/**
 * `TH_SESSION_STORE=memory`, the default on Node: a map in this process, shared by its requests
 * and nothing else. Bounded by entries; expiry follows the injected clock.
 *
 * When it is full of live entries it refuses new keys (StoreUnavailableError) rather than evicting
 * one: evicting a revocation record would bring a revoked session back, so a full store fails
 * closed like one that cannot be reached. Expired entries are dropped first.
 */
import { StoreUnavailableError, type Clock, type SessionStore } from '../core/ports.js';
import { checkCompareAndSet, checkKey, checkWrite } from './entry-rules.js';

export const DEFAULT_MAX_ENTRIES = 100_000;

export interface MemoryStoreOptions {
  /** At most this many live entries (default {@link DEFAULT_MAX_ENTRIES}). */
  readonly maxEntries?: number;
  readonly clock?: Clock;
}

interface Entry {
  readonly value: string;
  readonly expiresAt: number;
}

export class MemoryStore implements SessionStore {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #clock: Clock;
  // When full: no entry expires before this, so sweeping again earlier would find nothing.
  #nothingExpiresBefore = -Infinity;

  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive whole number');
    this.#maxEntries = maxEntries;
    this.#clock = options.clock ?? Date.now;
  }

  /** Live and expired-but-not-yet-swept entries. */
  get size(): number {
    return this.#entries.size;
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    return this.#live(key, this.#clock())?.value;
  }

  async put(key: string, value: string, ttlSeconds: number): Promise<void> {
    checkWrite(key, value, ttlSeconds);
    this.#write(key, value, ttlSeconds, this.#clock());
  }

  async compareAndSet(key: string, expected: string | undefined, value: string, ttlSeconds: number): Promise<boolean> {
    checkCompareAndSet(key, expected, value, ttlSeconds);
    const now = this.#clock();
    // One synchronous step: nothing else in this process runs between the read and the write.
    if (this.#live(key, now)?.value !== expected) return false;
    this.#write(key, value, ttlSeconds, now);
    return true;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#entries.delete(key);
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #write(key: string, value: string, ttlSeconds: number, now: number): void {
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxEntries) {
      this.#sweep(now);
      if (this.#entries.size >= this.#maxEntries) {
        throw new StoreUnavailableError(`The memory session store is full (${this.#maxEntries} live entries)`);
      }
    }
    const expiresAt = now + ttlSeconds * 1000;
    this.#entries.set(key, { value, expiresAt });
    if (expiresAt < this.#nothingExpiresBefore) this.#nothingExpiresBefore = expiresAt;
  }

  #sweep(now: number): void {
    if (now < this.#nothingExpiresBefore) return;
    let earliest = Infinity;
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(key);
      else if (entry.expiresAt < earliest) earliest = entry.expiresAt;
    }
    this.#nothingExpiresBefore = earliest;
  }
}
