/**
 * The Durable Object behind `TH_SESSION_STORE=durable-object` (bound as SESSION_STORE in
 * wrangler.toml, SQLite-backed). There is one object per store key (src/stores/durable-object.ts
 * names it after the key), holding that one entry. An object runs one call at a time and each
 * method below is synchronous over the synchronous storage API, so a compare-and-set is a single
 * step that no other call can interleave with, whichever Worker instance sends it.
 *
 * Expiry: reads treat a past `expiresAt` as absent, and an alarm at `expiresAt` deletes the
 * object's storage, so expired entries do not pile up.
 */
import { DurableObject } from 'cloudflare:workers';

interface Entry {
  readonly value: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

const ENTRY = 'entry';

export class SessionStoreObject extends DurableObject {
  read(): string | undefined {
    return this.#live()?.value;
  }

  write(value: string, ttlSeconds: number): void {
    this.#write(value, ttlSeconds);
  }

  swap(expected: string | undefined, value: string, ttlSeconds: number): boolean {
    if (this.#live()?.value !== expected) return false;
    this.#write(value, ttlSeconds);
    return true;
  }

  async remove(): Promise<void> {
    this.ctx.storage.kv.delete(ENTRY);
    await this.ctx.storage.deleteAlarm();
  }

  async alarm(): Promise<void> {
    const entry = this.ctx.storage.kv.get<Entry>(ENTRY);
    // Rewritten since the alarm was set: keep it, and come back when it expires.
    if (entry && entry.expiresAt > Date.now()) await this.ctx.storage.setAlarm(entry.expiresAt);
    else await this.ctx.storage.deleteAll();
  }

  #live(): Entry | undefined {
    const entry = this.ctx.storage.kv.get<Entry>(ENTRY);
    return entry && entry.expiresAt > Date.now() ? entry : undefined;
  }

  #write(value: string, ttlSeconds: number): void {
    const expiresAt = Date.now() + ttlSeconds * 1000;
    this.ctx.storage.kv.put<Entry>(ENTRY, { value, expiresAt });
    // Not awaited: the output gate holds the answer until this is stored too.
    void this.ctx.storage.setAlarm(expiresAt);
  }
}
