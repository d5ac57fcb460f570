/**
 * The stack the browser tests drive: the demo OpenID provider and the example API (both Node, on
 * 127.0.0.1, started here so they outlive token-handler restarts), and the SPA with the token handler
 * on `http://localhost:<port>`, started by a *target*: on Node (`startStack` from examples/start.ts)
 * or in workerd. A target only knows how to start and stop the SPA's origin with a given TH_*
 * environment; everything the tests assert against (what reached the API, which tokens the provider
 * issued) is recorded here, the same for every target.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { startExampleApi, type ApiRequestInfo, type ExampleApi } from '../../examples/api.js';
import { startDemoProvider, type DemoProvider } from '../../examples/provider.js';
import { DEMO_CLIENT_ID, startStack } from '../../examples/start.js';

/** The client id `npm start` registers, so screenshots look like the demo. */
export const CLIENT_ID = DEMO_CLIENT_ID;
export const AGENT_PATH = '/oauth-agent';

/** Starts the SPA and the token handler on one origin, `http://localhost:<port>`. */
export interface Target {
  readonly name: string;
  start(options: { port: number; env: Record<string, string> }): Promise<{ close(): Promise<void> }>;
}

/** What the provider's token endpoint handed out, one entry per successful token response. */
export interface IssuedTokens {
  readonly grantType: string;
  readonly accessToken: string;
  readonly refreshToken?: string;
  readonly idToken?: string;
  /** The refresh token a refresh_token grant presented. */
  readonly presentedRefreshToken?: string;
}

export interface E2eStack {
  readonly target: string;
  readonly urls: {
    /** The SPA's page, http://localhost:<port>/ */
    readonly spa: string;
    /** The SPA's and the token handler's origin. */
    readonly origin: string;
    readonly issuer: string;
    /** The example API's own URL (127.0.0.1), not through the proxy. */
    readonly api: string;
  };
  readonly clientId: string;
  readonly clientSecret: string;
  /** The TH_COOKIE_KEYS the token handler runs with now. */
  readonly cookieKeys: string;
  /** Every request that reached the example API, in order. */
  readonly upstreamRequests: ApiRequestInfo[];
  /** Every token the provider issued, in order. */
  readonly issued: IssuedTokens[];
  /** Every refused token request at the provider (its OAuth error, e.g. invalid_grant for a reused refresh token), in order. */
  readonly grantErrors: string[];
  /** The outcome of every back-channel logout delivery the provider made to the token handler, in order. */
  readonly backchannelDeliveries: ('success' | 'error')[];
  /** Every access, refresh and ID token issued so far. */
  allTokens(): string[];
  /** Stops the token handler and starts it again on the same origin, with these TH_* settings changed. */
  restartTokenHandler(overrides?: Record<string, string>): Promise<void>;
  /** POSTs a refresh_token grant to the provider's token endpoint as the token handler's client would. */
  refreshAtProvider(refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A port that was free a moment ago (the token handler's origin must be known before the provider starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startE2eStack(target: Target, options: { accessTokenTtl?: number } = {}): Promise<E2eStack> {
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  };
  try {
    const [port, apiPort] = await Promise.all([freePort(), freePort()]);
    const origin = `http://localhost:${port}`;
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const clientSecret = randomSecret();

    const provider: DemoProvider = await startDemoProvider({
      port: 0,
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: clientSecret,
          token_endpoint_auth_method: 'client_secret_basic',
          redirect_uris: [`${origin}/`],
          post_logout_redirect_uris: [`${origin}/`],
          // Signing out at the provider POSTs a logout token here (through the SPA's origin, on loopback).
          backchannel_logout_uri: `${origin}${AGENT_PATH}/backchannel-logout`,
        },
      ],
      accessTokenTtl: options.accessTokenTtl ?? 300,
      apiAudience: apiUrl,
    });
    closers.push(() => provider.close());

    const issued: IssuedTokens[] = [];
    provider.provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: unknown; refresh_token?: unknown } }; body?: unknown }) => {
      const body = (ctx.body ?? {}) as Record<string, unknown>;
      if (typeof body['access_token'] !== 'string') return;
      const presented = ctx.oidc.params?.refresh_token;
      issued.push({
        grantType: String(ctx.oidc.params?.grant_type ?? ''),
        accessToken: body['access_token'],
        ...(typeof body['refresh_token'] === 'string' ? { refreshToken: body['refresh_token'] } : {}),
        ...(typeof body['id_token'] === 'string' ? { idToken: body['id_token'] } : {}),
        ...(typeof presented === 'string' ? { presentedRefreshToken: presented } : {}),
      });
    });
    const grantErrors: string[] = [];
    provider.provider.on('grant.error', (_ctx: unknown, error: { error?: unknown }) => grantErrors.push(String(error.error)));
    const backchannelDeliveries: ('success' | 'error')[] = [];
    provider.provider.on('backchannel.success', () => backchannelDeliveries.push('success'));
    provider.provider.on('backchannel.error', () => backchannelDeliveries.push('error'));

    const upstreamRequests: ApiRequestInfo[] = [];
    const api: ExampleApi = await startExampleApi({
      port: apiPort,
      issuer: provider.issuer,
      audience: apiUrl,
      onRequest: (info) => upstreamRequests.push(info),
    });
    closers.push(() => api.close());

    let env: Record<string, string> = {
      TH_PUBLIC_ORIGIN: origin,
      TH_ISSUER: provider.issuer,
      TH_CLIENT_ID: CLIENT_ID,
      TH_CLIENT_SECRET: clientSecret,
      TH_COOKIE_KEYS: `k1:${randomSecret()}`,
      TH_API_ROUTES: `/api=${apiUrl}/api`,
      TH_AGENT_PATH: AGENT_PATH,
      TH_BACKCHANNEL_LOGOUT: 'on',
      // Every request asks the store whether its session was revoked, so the first look after a
      // sign-out at the provider already sees it (the cache's delay has its own unit tests).
      TH_REVOCATION_CACHE_TTL: '0',
    };
    let running = await target.start({ port, env });
    let stopped = false;
    closers.push(async () => {
      if (!stopped) await running.close();
    });

    return {
      target: target.name,
      urls: { spa: `${origin}/`, origin, issuer: provider.issuer, api: apiUrl },
      clientId: CLIENT_ID,
      clientSecret,
      get cookieKeys() {
        return env['TH_COOKIE_KEYS']!;
      },
      upstreamRequests,
      issued,
      grantErrors,
      backchannelDeliveries,
      allTokens: () => issued.flatMap((t) => [t.accessToken, t.refreshToken, t.idToken].filter((v): v is string => v !== undefined)),
      async restartTokenHandler(overrides = {}) {
        stopped = true;
        await running.close();
        env = { ...env, ...overrides };
        running = await target.start({ port, env });
        stopped = false;
      },
      async refreshAtProvider(refreshToken) {
        const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
        const response = await fetch(discovery.token_endpoint, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${clientSecret}`).toString('base64')}`,
          },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The token handler on Node: `npm start`'s own stack (examples/start.ts), pointed at the provider and API above. */
export const nodeTarget: Target = {
  name: 'node',
  async start({ port, env }) {
    // startStack always opens its own example-API listener too; with TH_API_ROUTES set it stays unused.
    const stack = await startStack({ ports: { spa: port, api: 0, provider: 0 }, env, quiet: true });
    return { close: () => stack.close() };
  },
};

