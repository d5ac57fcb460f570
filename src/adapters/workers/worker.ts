/**
 * The Cloudflare Workers entry (`wrangler.toml` → `main`). Configuration comes from the Worker's
 * bindings (`[vars]` and secrets) through the same `parseConfig` as everywhere else; it is parsed
 * and the app built once per isolate, on the first request (bindings are only known then, and they
 * cannot change for the life of an isolate). A bad configuration is logged once and then answers
 * every request with a 500 JSON error naming the bad variables, never their values.
 *
 * Only Web APIs are used (fetch, Web Crypto, streams): the Worker needs no `nodejs_compat`.
 */
import { createApp, type AppDeps, type TokenHandlerApp } from '../../app/create-app.js';
import { errorResponse } from '../../app/responses.js';
import { ConfigError, parseConfig, type RawConfig } from '../../config/parse.js';
import { TokenHandlerError } from '../../core/errors.js';

/** The Worker's bindings as the runtime hands them over: `[vars]` may be strings, numbers, booleans or JSON. */
export type WorkerBindings = Readonly<Record<string, unknown>>;

/** The part of the Workers `ExecutionContext` this entry touches (none, today; kept for the signature). */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
}

export interface TokenHandlerWorker {
  fetch(request: Request, env: WorkerBindings, ctx?: WorkerContext): Promise<Response>;
  /** The app for these bindings, built on first use; throws the configuration error. Tests reach `app.agent` here. */
  load(env: WorkerBindings): TokenHandlerApp;
}

type Loaded = { app: TokenHandlerApp } | { failure: () => Response; log: string };

/** The app with the Workers specifics: the client's IP from Cloudflare, and bodies passed through as fetched. */
export function createWorkersApp(raw: RawConfig, deps: Partial<AppDeps> = {}): TokenHandlerApp {
  return createApp(parseConfig(raw), {
    // Workers' fetch keeps a compressed upstream body compressed when it is returned unread, so
    // Content-Encoding must stay (unlike Node's undici, which decodes it).
    upstreamBodyDecoded: false,
    // Set by Cloudflare's edge on every request; a client cannot supply its own.
    clientIp: (c) => c.req.header('cf-connecting-ip') ?? undefined,
    ...deps,
  });
}

/** A Worker with its own per-isolate cache; the default export is one of these. */
export function createWorker(deps: Partial<AppDeps> = {}): TokenHandlerWorker {
  let loaded: Loaded | undefined;
  const logSink = deps.logSink ?? ((line: string) => console.log(line));

  const load = (env: WorkerBindings): Loaded => {
    if (loaded) return loaded;
    try {
      loaded = { app: createWorkersApp(bindingsToRaw(env), deps) };
    } catch (error) {
      loaded = configFailure(error, deps.now ?? Date.now);
      // Once per isolate, not once per request: the answer never changes until a new deployment.
      logSink(loaded.log);
    }
    return loaded;
  };

  return {
    async fetch(request, env) {
      const current = load(env);
      return 'app' in current ? current.app.fetch(request) : current.failure();
    },
    load(env) {
      const current = load(env);
      if ('app' in current) return current.app;
      throw new Error(current.log);
    },
  };
}

/** Only string-like `TH_*` bindings are settings; other bindings (KV, services…) are ignored. */
function bindingsToRaw(env: WorkerBindings): RawConfig {
  const raw: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('TH_') || value === undefined || value === null) continue;
    // A TOML number or boolean in [vars] arrives typed; a JSON object (say a JWK) arrives parsed.
    raw[name] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return raw;
}

function configFailure(error: unknown, now: () => number): { failure: () => Response; log: string } {
  const time = new Date(now()).toISOString();
  if (error instanceof ConfigError) {
    // Every problem names its variable first; the browser gets only the names, the log the problems
    // (parseConfig never puts a secret's value in a problem).
    const names = [...new Set(error.problems.flatMap((p) => p.match(/\bTH_[A-Z0-9_]+/g) ?? []))];
    const detail = `The token handler is misconfigured; check ${names.join(', ') || 'its settings'}`;
    return {
      failure: () => errorResponse(new TokenHandlerError('server_error', detail)),
      log: JSON.stringify({ time, level: 'error', msg: 'config_invalid', variables: names, problems: error.problems }),
    };
  }
  const cause = error instanceof Error ? error.name : typeof error;
  return {
    failure: () => errorResponse(new TokenHandlerError('server_error', 'The token handler failed to start')),
    log: JSON.stringify({ time, level: 'error', msg: 'startup_failed', cause }),
  };
}

export { SessionStoreObject } from './session-store-object.js';

const worker = createWorker();

export default { fetch: worker.fetch } satisfies { fetch: TokenHandlerWorker['fetch'] };
