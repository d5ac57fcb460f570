// `npm start`: the whole demo on one machine, with no configuration.
//
//   http://localhost:8080/   the example SPA, and on the same origin the token handler
//                            (/oauth-agent/* and the API routes, /api/* by default)
//   http://127.0.0.1:8081    the demo OpenID provider (user demo, password demo)
//   http://127.0.0.1:8082    the example API that the token handler's proxy calls
//
// The client secret and the cookie keys are generated at start-up. Any TH_* variable in the
// environment replaces the default it names (TH_ISSUER points the stack at another provider, and
// then the demo provider is not started). PORT, PROVIDER_PORT and API_PORT move the listeners;
// DEMO_ACCESS_TOKEN_TTL sets the demo provider's access-token lifetime (seconds, default 300), and
// API_AUDIENCE the `aud` the example API requires (default: its own URL, http://127.0.0.1:8082).
// DEMO_DPOP=1 turns on DPoP (TH_DPOP): the demo provider binds tokens to the session's key and
// the example API verifies every proof; both demand their nonces, so the retries are exercised.
// DEMO_OPAQUE_ACCESS_TOKENS=1 shows the phantom token pattern: the demo provider issues opaque
// access tokens, `/api` gets the `introspect` route option (the token handler introspects them into
// signed introspection JWTs, RFC 9701), and the example API accepts only those.
//
// `startStack()` is what tests use: it accepts port 0 for any listener, and the public origin, the
// provider's redirect URIs and the API audience then follow the ports actually chosen.

import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { HttpBindings } from '@hono/node-server';
import type { RequestListener } from 'node:http';
import { createNodeTokenHandler, nodeFetchListener, startNodeServer, type RunningServer } from '../src/adapters/node/server.js';
import { ConfigError, parseConfig, type Config, type Platform } from '../src/config/parse.js';
import { createExampleApiApp } from './api.js';
import { startDemoProvider, type DemoClient } from './provider.js';
import { buildSpa, serveSpa } from './spa-server.js';

export type StackPorts = {
  /** The SPA and the token handler (one origin). Default: PORT or 8080. */
  spa?: number;
  /** The demo OpenID provider. Default: PROVIDER_PORT or 8081. */
  provider?: number;
  /** The example API. Default: API_PORT or 8082. */
  api?: number;
};

export type StackOptions = {
  /** 0 picks a free port. */
  ports?: StackPorts;
  /** Where TH_*, PORT, PROVIDER_PORT, API_PORT, DEMO_ACCESS_TOKEN_TTL and DEMO_OPAQUE_ACCESS_TOKENS are read; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** No banner and no token-handler log lines. */
  quiet?: boolean;
  /**
   * Serves the token handler's paths instead of the in-process Node app (`npm run start:worker`
   * runs it in workerd). Gets the TH_* settings the config was parsed from; closed with the stack.
   */
  tokenHandler?: (settings: Readonly<Record<string, string>>, config: Config) => Promise<ExternalTokenHandler>;
  /**
   * Where the `tokenHandler` runs, for checking its settings; default 'node'. On 'workers' the
   * stack turns on back-channel logout with the Durable Object store (wrangler.toml's binding).
   */
  platform?: Platform;
};

export type ExternalTokenHandler = {
  fetch: FetchHandler;
  /** Where it runs, for the banner. */
  description: string;
  close(): Promise<void>;
};

export type StackUrls = {
  /** The SPA's page, e.g. http://localhost:8080/ */
  spa: string;
  /** The public origin of the SPA and the token handler, e.g. http://localhost:8080 */
  origin: string;
  /** The OAuth agent's base URL, e.g. http://localhost:8080/oauth-agent */
  agent: string;
  /** The OpenID provider's issuer (the demo provider's, or TH_ISSUER). */
  issuer: string;
  /** The example API's own URL (not through the proxy), e.g. http://127.0.0.1:8082 */
  api: string;
};

export type Stack = {
  urls: StackUrls;
  /** The token handler's parsed configuration (holds secrets: never print it). */
  config: Config;
  /** True when the demo provider runs (TH_ISSUER was not set). */
  demoProvider: boolean;
  close(): Promise<void>;
};

export const DEMO_CLIENT_ID = 'edge-token-handler-demo';
export const DEMO_CREDENTIALS = { username: 'demo', password: 'demo' } as const;

const BIND_HOST = '127.0.0.1';
const PUBLIC_HOST = 'localhost';

type FetchHandler = (request: Request, env: HttpBindings) => Response | Promise<Response>;

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const env = options.env ?? process.env;
  const ports = {
    spa: options.ports?.spa ?? portFromEnv(env, 'PORT', 8080),
    provider: options.ports?.provider ?? portFromEnv(env, 'PROVIDER_PORT', 8081),
    api: options.ports?.api ?? portFromEnv(env, 'API_PORT', 8082),
  };
  const platform = options.platform ?? 'node';
  const accessTokenTtl = positiveIntegerFromEnv(env, 'DEMO_ACCESS_TOKEN_TTL', 300);
  const dpop = env['DEMO_DPOP'] === '1' ? { requireNonce: true } : undefined;
  const opaqueAccessTokens = flagFromEnv(env, 'DEMO_OPAQUE_ACCESS_TOKENS');
  // The example API checks either DPoP proofs or introspection JWTs (which go as Bearer), not both.
  if (dpop && opaqueAccessTokens) throw new Error('DEMO_DPOP and DEMO_OPAQUE_ACCESS_TOKENS cannot be combined');
  const overrides = Object.fromEntries(Object.entries(env).filter(([name, value]) => name.startsWith('TH_') && value !== undefined && value.trim() !== ''));

  // Everything started so far, closed in reverse order by close() or when start-up fails.
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    const errors: unknown[] = [];
    for (const close of closers.splice(0).reverse()) {
      await close().catch((error: unknown) => errors.push(error));
    }
    if (errors.length > 0) throw new AggregateError(errors, 'Some servers did not close cleanly');
  };

  try {
    // The SPA/token-handler listener and the API listener come first, so that with port 0 their
    // real ports are known before the provider (redirect URIs, API audience) and the config exist.
    const front = await listenDeferred(ports.spa, 'the SPA and token handler');
    closers.push(() => front.server.close());
    const apiListener = await listenDeferred(ports.api, 'the example API');
    closers.push(() => apiListener.server.close());
    const apiUrl = `http://${BIND_HOST}:${apiListener.server.port}`;

    const defaults: Record<string, string> = {
      TH_PUBLIC_ORIGIN: `http://${PUBLIC_HOST}:${front.server.port}`,
      TH_CLIENT_ID: DEMO_CLIENT_ID,
      TH_COOKIE_KEYS: `k1:${randomSecret()},k2:${randomSecret()}`,
      TH_API_ROUTES: `/api=${apiUrl}/api`,
      ...(dpop ? { TH_DPOP: 'on' } : {}),
      ...(opaqueAccessTokens ? { TH_API_ROUTE_OPTIONS: '/api=introspect' } : {}),
      // Signing out at the demo provider ends the session here too, where a store shares the
      // revocation: Node's memory store (the default there), the Worker's Durable Object.
      ...(platform === 'workers' ? { TH_SESSION_STORE: 'durable-object', TH_BACKCHANNEL_LOGOUT: 'on' } : options.tokenHandler ? {} : { TH_BACKCHANNEL_LOGOUT: 'on' }),
    };
    // A generated secret would make parseConfig choose client_secret_basic over a given private key.
    if (!overrides['TH_CLIENT_SECRET'] && !overrides['TH_CLIENT_PRIVATE_KEY']) defaults['TH_CLIENT_SECRET'] = randomSecret();

    const external = overrides['TH_ISSUER'] !== undefined;
    let issuer: string;
    if (external) {
      issuer = overrides['TH_ISSUER']!;
    } else {
      // Validate everything before starting the provider, and register the client exactly as the
      // token handler will authenticate (id, method, secret or public key, redirect URIs).
      const draft = parseConfig({ ...defaults, TH_ISSUER: `http://${BIND_HOST}`, ...overrides }, { platform });
      const provider = await startDemoProvider({
        port: ports.provider,
        host: BIND_HOST,
        clients: [demoClient(draft)],
        accessTokenTtl,
        apiAudience: apiUrl,
        ...(dpop ? { dpop } : {}),
        opaqueAccessTokens,
      });
      closers.push(() => provider.close());
      issuer = provider.issuer;
    }

    const settings: Record<string, string> = { ...defaults, TH_ISSUER: issuer, ...(overrides as Record<string, string>) };
    const config = parseConfig(settings, { platform });
    const api = createExampleApiApp({
      issuer: config.issuer,
      audience: env['API_AUDIENCE'] ?? apiUrl,
      ...(dpop ? { dpop } : {}),
      // Phantom tokens: what reaches the API is the provider's introspection JWT, addressed to the token handler.
      ...(opaqueAccessTokens ? { introspectionAudience: config.clientId } : {}),
    });
    apiListener.setHandler(nodeFetchListener(api.fetch));

    // In-process, the token handler's own listener serves its paths (API routes on the same fast
    // path as `npm run serve`); an external one (workerd) is reached by fetch.
    let tokenHandler: { fetch: FetchHandler; listener?: RequestListener };
    let where = 'Node, in-process';
    if (options.tokenHandler) {
      const external = await options.tokenHandler(settings, config);
      closers.push(() => external.close());
      tokenHandler = external;
      where = external.description;
    } else {
      tokenHandler = createNodeTokenHandler(config, options.quiet ? { logSink: () => {} } : {});
    }
    const files = await buildSpa({ agentPath: config.agentPath });
    const handledByTokenHandler = (path: string) =>
      isUnder(path, config.agentPath) || config.apiRoutes.some((route) => isUnder(path, route.prefix));
    const byFetch = nodeFetchListener((request, bindings) =>
      handledByTokenHandler(new URL(request.url).pathname) ? tokenHandler.fetch(request, bindings) : serveSpa(files, request),
    );
    const tokenListener = tokenHandler.listener;
    front.setHandler(
      tokenListener
        ? (req, res) => {
            // Routed by the resolved path, as a CDN would; the token handler judges the raw target itself.
            if (handledByTokenHandler(new URL(req.url ?? '/', 'http://localhost').pathname)) tokenListener(req, res);
            else byFetch(req, res);
          }
        : byFetch,
    );

    const urls: StackUrls = {
      spa: `${config.publicOrigin}/`,
      origin: config.publicOrigin,
      agent: config.publicOrigin + config.agentPath,
      issuer: config.issuer,
      api: apiUrl,
    };
    if (!options.quiet) console.log(banner(urls, config, external, where, opaqueAccessTokens));

    let closing: Promise<void> | undefined;
    return { urls, config, demoProvider: !external, close: () => (closing ??= closeAll()) };
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
}

/** Listens at once (so the port is known) and answers 503 until the real handler is set. */
async function listenDeferred(port: number, what: string): Promise<{ server: RunningServer; setHandler(handler: RequestListener): void }> {
  let current: RequestListener = nodeFetchListener(
    () =>
      new Response(JSON.stringify({ error_code: 'starting', detailed_error: 'The server is starting' }), {
        status: 503,
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '1' },
      }),
  );
  let server: RunningServer;
  try {
    server = await startNodeServer((req, res) => current(req, res), { port, hostname: BIND_HOST });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`Port ${port} on ${BIND_HOST} is in use, so ${what} cannot start there.`, { cause: error });
    }
    throw error;
  }
  return {
    server,
    setHandler(handler) {
      current = handler;
    },
  };
}

function demoClient(config: Config): DemoClient {
  const client: DemoClient = {
    client_id: config.clientId,
    token_endpoint_auth_method: config.clientAuth,
    redirect_uris: [config.redirectUri],
    post_logout_redirect_uris: [config.postLogoutRedirectUri],
    ...(config.backchannelLogout ? { backchannel_logout_uri: `${config.publicOrigin}${config.agentPath}/backchannel-logout` } : {}),
  };
  if (config.clientSecret !== undefined) client.client_secret = config.clientSecret;
  if (config.clientPrivateKey !== undefined) {
    // The public half only: drop the private members of an RSA, EC or OKP key.
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...publicKey } = config.clientPrivateKey;
    client.jwks = { keys: [publicKey] };
  }
  return client;
}

function isUnder(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}

function randomSecret(): string {
  // 32 random bytes: 43 base64url characters, more than the 32 characters parseConfig requires.
  return randomBytes(32).toString('base64url');
}

function portFromEnv(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new Error(`${name} must be a port number (0-65535), got "${raw}"`);
  return Number(raw);
}

function flagFromEnv(env: Readonly<Record<string, string | undefined>>, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw || ['0', 'false', 'no', 'off'].includes(raw)) return false;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  throw new Error(`${name} must be 1 or 0, got "${raw}"`);
}

function positiveIntegerFromEnv(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a whole number of seconds (at least 1), got "${raw}"`);
  return Number(raw);
}

function banner(urls: StackUrls, config: Config, external: boolean, where: string, opaqueAccessTokens: boolean): string {
  const routes = config.apiRoutes.map((r) => `${r.prefix} -> ${r.upstream}`).join(', ') || 'none';
  return [
    '',
    'edge-token-handler demo',
    '',
    `  SPA            ${urls.spa}`,
    `  Token handler  ${urls.agent}   (API routes: ${routes}; ${where})`,
    `  Provider       ${urls.issuer}${external ? '   (from TH_ISSUER)' : '   (demo OpenID provider)'}`,
    `  Example API    ${urls.api}`,
    ...(opaqueAccessTokens ? ['', '  Phantom tokens: opaque access tokens, introspected into JWTs on the introspect routes.'] : []),
    '',
    external ? '  Open the SPA and log in at your provider.' : `  Open the SPA and log in as ${DEMO_CREDENTIALS.username} / ${DEMO_CREDENTIALS.password}.`,
    '  Ctrl-C stops everything.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  let stack: Stack;
  try {
    stack = await startStack();
  } catch (error) {
    console.error(error instanceof ConfigError || error instanceof Error ? error.message : error);
    if (/EADDRINUSE|is in use/.test(String(error))) console.error('Set PORT, PROVIDER_PORT or API_PORT to use other ports.');
    process.exit(1);
  }
  closeOnSignals(stack, 5000);
}

/** Ctrl-C / SIGTERM: close every server and exit 0; a second signal, or a hang past `graceMs`, exits 1. */
export function closeOnSignals(stack: { close(): Promise<void> }, graceMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: stopping…`);
    setTimeout(() => {
      console.error(`The servers did not close within ${graceMs / 1000} s`);
      process.exit(1);
    }, graceMs).unref();
    stack.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
