/**
 * The Durable Object behind `TH_SESSION_STORE=durable-object` (bound as SESSION_STORE in
 * wrangler.toml, SQLite-backed). There is one object per store key (src/stores/durable-object.ts
 * names it after the key), holding that one entry. An object runs one request at a time and each
 * operation below is synchronous over the synchronous storage API, so a compare-and-set is a single
 * step that no other call can interleave with, whichever Worker instance sends it.
 *
 * Expiry: reads treat a past `expiresAt` as absent, and an alarm at `expiresAt` deletes the
 * object's storage, so expired entries do not pile up.
 *
 * It speaks JSON over the object's `fetch` rather than RPC: RPC needs the `DurableObject` base
 * class from `cloudflare:workers`, which only workerd can import, and the Worker's entry (which
 * exports this class) must stay importable in Node (the package's `/workers` entry, tests).
 */

/** The part of the Durable Object state this class uses (SQLite-backed storage). */
export interface SessionStoreObjectState {
  readonly storage: {
    /** Synchronous key-value storage: each call is one step, nothing runs in between. */
    readonly kv: {
      get<T>(key: string): T | undefined;
      put<T>(key: string, value: T): void;
      delete(key: string): boolean;
    };
    setAlarm(scheduledTime: number): Promise<void>;
    deleteAlarm(): Promise<void>;
    deleteAll(): Promise<void>;
  };
}

/** One operation, as src/stores/durable-object.ts sends it; `expected: null` means no entry. */
export type SessionStoreRequest =
  | { readonly op: 'read' }
  | { readonly op: 'write'; readonly value: string; readonly ttlSeconds: number }
  | { readonly op: 'swap'; readonly expected: string | null; readonly value: string; readonly ttlSeconds: number }
  | { readonly op: 'remove' };

/** `value` for a read (null: none), `written` for a swap. */
export interface SessionStoreAnswer {
  readonly value?: string | null;
  readonly written?: boolean;
}

interface Entry {
  readonly value: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

const ENTRY = 'entry';

export class SessionStoreObject {
  constructor(private readonly state: SessionStoreObjectState) {}

  async fetch(request: Request): Promise<Response> {
    let operation: unknown;
    try {
      operation = await request.json();
    } catch {
      operation = undefined;
    }
    if (!isRequest(operation)) return Response.json({ error: 'bad_request' }, { status: 400 });
    return Response.json(await this.#apply(operation));
  }

  async alarm(): Promise<void> {
    const entry = this.state.storage.kv.get<Entry>(ENTRY);
    // Rewritten since the alarm was set: keep it, and come back when it expires.
    if (entry && entry.expiresAt > Date.now()) await this.state.storage.setAlarm(entry.expiresAt);
    else await this.state.storage.deleteAll();
  }

  async #apply(operation: SessionStoreRequest): Promise<SessionStoreAnswer> {
    switch (operation.op) {
      case 'read':
        return { value: this.#live()?.value ?? null };
      case 'write':
        this.#write(operation.value, operation.ttlSeconds);
        return {};
      case 'swap': {
        if ((this.#live()?.value ?? null) !== operation.expected) return { written: false };
        this.#write(operation.value, operation.ttlSeconds);
        return { written: true };
      }
      case 'remove':
        this.state.storage.kv.delete(ENTRY);
        await this.state.storage.deleteAlarm();
        return {};
    }
  }

  #live(): Entry | undefined {
    const entry = this.state.storage.kv.get<Entry>(ENTRY);
    return entry && entry.expiresAt > Date.now() ? entry : undefined;
  }

  #write(value: string, ttlSeconds: number): void {
    const expiresAt = Date.now() + ttlSeconds * 1000;
    this.state.storage.kv.put<Entry>(ENTRY, { value, expiresAt });
    // Not awaited: the output gate holds the answer until this is stored too.
    void this.state.storage.setAlarm(expiresAt);
  }
}

function isRequest(body: unknown): body is SessionStoreRequest {
  if (!body || typeof body !== 'object') return false;
  const { op, value, expected, ttlSeconds } = body as Record<string, unknown>;
  const ttl = Number.isInteger(ttlSeconds) && (ttlSeconds as number) > 0;
  switch (op) {
    case 'read':
    case 'remove':
      return true;
    case 'write':
      return typeof value === 'string' && ttl;
    case 'swap':
      return typeof value === 'string' && ttl && (expected === null || typeof expected === 'string');
    default:
      return false;
  }
}
