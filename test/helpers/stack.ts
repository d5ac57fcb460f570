/**
 * The integration test stack: the real oidc-provider and the example API on loopback, and the token
 * handler in-process (app.request) on an https origin, so `Secure` and `__Host-` cookies behave as
 * in production. A small cookie jar plays the SPA's browser; every response and log line is kept so
 * tests can search them for leaked secrets.
 */
import { startExampleApi, type ApiRequestInfo, type ExampleApi } from '../../examples/api.js';
import { startDemoProvider, type DemoClient, type DemoProvider, type DemoProviderOptions } from '../../examples/provider.js';
import type { HttpBindings } from '@hono/node-server';
import { createNodeTokenHandler, type NodeTokenHandler } from '../../src/adapters/node/server.js';
import type { TokenHandlerDeps } from '../../src/app/create-token-handler.js';
import { parseConfig, type Config, type RawConfig } from '../../src/config/parse.js';
import { randomSecret } from './config.js';
import { PUBLIC_ORIGIN } from './spa-client.js';

// The SPA side is runtime-neutral (fetch only), so the workerd project reuses it.
export { PUBLIC_ORIGIN, SpaClient, type RecordedResponse } from './spa-client.js';

export const CLIENT_ID = 'th-test-client';

export interface TestStack {
  readonly provider: DemoProvider;
  readonly api: ExampleApi;
  readonly config: Config;
  /** The settings `config` and `app` were made from (the workerd project hands them to the Worker as bindings). */
  readonly env: RawConfig;
  readonly app: NodeTokenHandler;
  readonly clientSecret: string;
  readonly cookieKeys: string;
  readonly logs: string[];
  /** What reached the example API. */
  readonly upstreamRequests: ApiRequestInfo[];
  /** Makes another app on the same provider and API (new config or clock). */
  makeApp(overrides?: RawConfig, deps?: Partial<TokenHandlerDeps<HttpBindings>>): NodeTokenHandler;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly env?: RawConfig;
  readonly accessTokenTtl?: number;
  readonly requirePar?: boolean;
  /**
   * Access tokens for the provider's own userinfo endpoint (opaque, no audience) instead of JWTs for
   * the example API: oidc-provider refuses a token with an audience at userinfo.
   */
  readonly userinfoTokens?: boolean;
  readonly client?: Partial<DemoClient>;
  readonly deps?: Partial<TokenHandlerDeps<HttpBindings>>;
  /** DPoP end to end: TH_DPOP on, the provider binding tokens, the example API verifying proofs; each may demand its nonce. */
  readonly dpop?: { readonly providerNonce?: boolean; readonly apiNonce?: boolean };
  /** Phantom tokens: opaque access tokens, `/api` introspects them, the API takes only introspection JWTs. */
  readonly opaqueAccessTokens?: boolean;
  /** The provider's outgoing calls (back-channel logout deliveries), e.g. into an in-process app. */
  readonly providerFetch?: DemoProviderOptions['fetch'];
}

export async function startTestStack(options: StackOptions = {}): Promise<TestStack> {
  const clientSecret = randomSecret();
  const cookieKeys = `k1:${randomSecret()}`;
  const provider = await startDemoProvider({
    port: 0,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [`${PUBLIC_ORIGIN}/`],
        post_logout_redirect_uris: [`${PUBLIC_ORIGIN}/`],
        ...options.client,
      },
    ],
    accessTokenTtl: options.accessTokenTtl ?? 300,
    ...(options.userinfoTokens ? {} : { apiAudience: 'http://127.0.0.1:8082' }),
    ...(options.requirePar ? { requirePar: true } : {}),
    ...(options.dpop ? { dpop: { requireNonce: options.dpop.providerNonce === true } } : {}),
    ...(options.opaqueAccessTokens ? { opaqueAccessTokens: true } : {}),
    ...(options.providerFetch ? { fetch: options.providerFetch } : {}),
  });
  const upstreamRequests: ApiRequestInfo[] = [];
  const api = await startExampleApi({
    port: 0,
    issuer: provider.issuer,
    audience: 'http://127.0.0.1:8082',
    onRequest: (info) => upstreamRequests.push(info),
    ...(options.dpop ? { dpop: { requireNonce: options.dpop.apiNonce === true } } : {}),
    ...(options.opaqueAccessTokens ? { introspectionAudience: options.client?.client_id ?? CLIENT_ID } : {}),
  });
  const logs: string[] = [];
  const raw = (overrides: RawConfig = {}): RawConfig => ({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: clientSecret,
    TH_COOKIE_KEYS: cookieKeys,
    TH_API_ROUTES: `/api=${api.url}/api`,
    TH_LOG_LEVEL: 'debug',
    ...(options.dpop ? { TH_DPOP: 'on' } : {}),
    ...(options.opaqueAccessTokens ? { TH_API_ROUTE_OPTIONS: '/api=introspect' } : {}),
    ...options.env,
    ...overrides,
  });
  // The Node token handler as a host mounts it (its Hono app, in-process), with the Node transport.
  const makeApp = (overrides: RawConfig = {}, deps: Partial<TokenHandlerDeps<HttpBindings>> = {}) =>
    createNodeTokenHandler(parseConfig(raw(overrides)), { logSink: (line) => logs.push(line), ...options.deps, ...deps });
  const config = parseConfig(raw());
  const app = makeApp();
  return {
    provider,
    api,
    config,
    env: raw(),
    app,
    clientSecret,
    cookieKeys,
    logs,
    upstreamRequests,
    makeApp,
    async close() {
      await api.close();
      await provider.close();
    },
  };
}
