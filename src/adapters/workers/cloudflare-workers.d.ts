// The part of the `cloudflare:workers` module the Durable Object uses, typed without
// @cloudflare/workers-types (which the project does not install).
declare module 'cloudflare:workers' {
  /** SQLite-backed storage's synchronous key-value API: each call is one step, nothing runs in between. */
  export interface SyncKvStorage {
    get<T = unknown>(key: string): T | undefined;
    put<T>(key: string, value: T): void;
    delete(key: string): boolean;
  }

  export interface DurableObjectStorage {
    readonly kv: SyncKvStorage;
    setAlarm(scheduledTime: number): Promise<void>;
    deleteAlarm(): Promise<void>;
    deleteAll(): Promise<void>;
  }

  export interface DurableObjectState {
    readonly storage: DurableObjectStorage;
  }

  /** The base class for Durable Objects whose public methods are called over RPC. */
  export abstract class DurableObject<Env = unknown> {
    protected readonly ctx: DurableObjectState;
    protected readonly env: Env;
    constructor(ctx: DurableObjectState, env: Env);
  }
}
