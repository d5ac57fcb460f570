/**
 * The Cloudflare Workers entry (`wrangler.toml` → `main`). Configuration comes from the Worker's
 * bindings (`[vars]` and secrets) through the same `parseConfig` as everywhere else; it is parsed
 * and the token handler built once per isolate, on the first request (bindings are only known
 * then, and they cannot change for the life of an isolate). A bad configuration is logged once and
 * then answers every request with a 500 JSON error naming the bad variables, never their values.
 *
 * Only Web APIs are used (fetch, Web Crypto, streams): the Worker needs no `nodejs_compat`. Cookies
 * are unsealed with Web Crypto, and the sealer's cache of opened cookies lives as long as the isolate.
 */
import { createTokenHandler, type TokenHandler, type TokenHandlerDeps } from '../../app/create-token-handler.js';
import { startupFailure, type StartupFailure } from '../../app/startup-failure.js';
import { parseConfig, type RawConfig } from '../../config/parse.js';
import { cacheApiIntrospectionCache } from './introspection-cache.js';
// Directly, never through stores/select.ts: the Worker's bundle must not hold the Redis or AWS clients.
import { durableObjectStore, type DurableObjectNamespaceLike } from '../../stores/durable-object.js';
import { MemoryStore } from '../../stores/memory.js';

/** The Worker's bindings as the runtime hands them over: `[vars]` may be strings, numbers, booleans or JSON. */
export type WorkerBindings = Readonly<Record<string, unknown>>;

/** The part of the Workers `ExecutionContext` this entry touches (none, today; kept for the signature). */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
}

export interface TokenHandlerWorker {
  fetch(request: Request, env: WorkerBindings, ctx?: WorkerContext): Promise<Response>;
  /** The token handler for these bindings, built on first use; throws the configuration error. */
  load(env: WorkerBindings): TokenHandler<WorkerBindings>;
}

type Loaded = { handler: TokenHandler<WorkerBindings> } | { failure: StartupFailure };

/** The token handler with the Workers specifics: the client's IP from Cloudflare; API calls with fetch (the default); the Cache API; the Durable Object store. */
export function createWorkersTokenHandler(raw: RawConfig, deps: Partial<TokenHandlerDeps<WorkerBindings>> = {}, env: WorkerBindings = {}): TokenHandler<WorkerBindings> {
  const config = parseConfig(raw, { platform: 'workers' });
  return createTokenHandler<WorkerBindings>(config, {
    // Set by Cloudflare's edge on every request; a client cannot supply its own.
    clientIp: (_env, request) => request.headers.get('cf-connecting-ip') ?? undefined,
    // Phantom tokens: introspection results shared by the isolates of a data centre.
    introspectionCache: cacheApiIntrospectionCache(deps.now),
    // Without the Durable Object, refreshes are coordinated within this isolate only (README: "Scaling out").
    ...(config.sessionStore?.kind === 'durable-object' ? { sessionStore: durableObjectStore(sessionStoreBinding(env)) } : { localStore: new MemoryStore() }),
    ...deps,
  });
}

/** TH_SESSION_STORE=durable-object needs its binding; without it the Worker must not start as if it had a store. */
function sessionStoreBinding(env: WorkerBindings): DurableObjectNamespaceLike {
  const binding = env['SESSION_STORE'] as DurableObjectNamespaceLike | undefined;
  if (!binding || typeof binding.get !== 'function') {
    throw new Error('TH_SESSION_STORE=durable-object needs the SESSION_STORE Durable Object binding (wrangler.toml [[durable_objects.bindings]])');
  }
  return binding;
}

/** A Worker with its own per-isolate cache; the default export is one of these. */
export function createWorker(deps: Partial<TokenHandlerDeps<WorkerBindings>> = {}): TokenHandlerWorker {
  let loaded: Loaded | undefined;
  const logSink = deps.logSink ?? ((line: string) => console.log(line));

  const load = (env: WorkerBindings): Loaded => {
    if (loaded) return loaded;
    try {
      loaded = { handler: createWorkersTokenHandler(bindingsToRaw(env), deps, env) };
    } catch (error) {
      loaded = { failure: startupFailure(error, deps.now ?? Date.now) };
      // Once per isolate, not once per request: the answer never changes until a new deployment.
      logSink(loaded.failure.logLine);
    }
    return loaded;
  };

  return {
    async fetch(request, env) {
      const current = load(env);
      return 'handler' in current ? current.handler.fetch(request, env) : current.failure.response();
    },
    load(env) {
      const current = load(env);
      if ('handler' in current) return current.handler;
      throw new Error(current.failure.logLine);
    },
  };
}

/** Only string-like `TH_*` bindings are settings; other bindings (Durable Objects, KV…) are ignored. */
function bindingsToRaw(env: WorkerBindings): RawConfig {
  const raw: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('TH_') || value === undefined || value === null) continue;
    // A TOML number or boolean in [vars] arrives typed; a JSON object (say a JWK) arrives parsed.
    raw[name] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return raw;
}

export { SessionStoreObject } from './session-store-object.js';

const worker = createWorker();

export default { fetch: worker.fetch } satisfies { fetch: TokenHandlerWorker['fetch'] };
