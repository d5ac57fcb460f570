// A real OpenID provider for the local stack and the integration tests.
//
// It is oidc-provider (the certified OP implementation) configured the way the token handler
// expects a production IdP to behave: confidential clients, PKCE (S256) always, rotating refresh
// tokens, revocation, RP-initiated logout, PAR, RFC 9207 `iss`, and JWT access tokens that an API
// can validate on its own against the JWKS (or, with `opaqueAccessTokens`, opaque ones with
// introspection, RFC 7662, answered as signed JWTs, RFC 9701: the phantom token pattern). The
// login and consent pages are plain HTML forms served by the same Node HTTP server in front of
// provider.callback(), so a test "browser" (or a real one without JavaScript) can drive them.
//
// Everything oidc-provider would otherwise warn about as "development only" (signing keys, cookie
// keys, the in-memory adapter, devInteractions, the default pages and policies) is configured with
// real values, so the output stays quiet. This is still a demo: one user, memory storage,
// plain http on loopback.

import { generateKeyPairSync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, {
  errors,
  type Account,
  type Adapter,
  type AdapterPayload,
  type BaseTokenLike,
  type Client,
  type ClientMetadata,
  type Configuration,
  type Interaction,
  type KoaContextWithOIDC,
  type ResourceServerInfo,
} from 'oidc-provider';

export type { Provider };

export type DemoClient = {
  client_id: string;
  client_secret?: string;
  jwks?: { keys: JsonWebKey[] };
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  /** OIDC Back-Channel Logout: where the provider POSTs a logout token when the user signs out there (with `sid`). */
  backchannel_logout_uri?: string;
};

export type DemoProviderOptions = {
  /** Default 8081; 0 picks a free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  clients: DemoClient[];
  /** Access-token lifetime in seconds, default 300. */
  accessTokenTtl?: number;
  /** Resource indicator and `aud` of the JWT access tokens, e.g. 'http://127.0.0.1:8082'. */
  apiAudience?: string;
  /** Require pushed authorization requests (RFC 9126) for every client. */
  requirePar?: boolean;
  /**
   * DPoP (RFC 9449, `DEMO_DPOP=1`): every client's access tokens are bound to its proof key
   * (`dpop_bound_access_tokens`, `cnf.jkt` in the JWT); `requireNonce` also demands the provider's
   * nonce in every proof (a first proof without one gets `use_dpop_nonce`).
   */
  dpop?: { requireNonce?: boolean };
  /**
   * Opaque access tokens for the API instead of JWTs (the phantom token pattern): introspection
   * (RFC 7662) is on, and answers every client with a signed JWT (RFC 9701) when it asks for one.
   */
  opaqueAccessTokens?: boolean;
  /**
   * How the provider makes its own outgoing calls (back-channel logout deliveries). Default:
   * the global fetch without oidc-provider's dispatcher, which refuses loopback and private
   * addresses (an SSRF guard), so it can reach a token handler on 127.0.0.1.
   */
  fetch?: (url: URL | string, options: RequestInit & { dispatcher?: unknown }) => Promise<Response>;
};

export type DemoProvider = {
  issuer: string;
  provider: Provider;
  close(): Promise<void>;
};

/** The one user of the demo. */
export const DEMO_USER = {
  username: 'demo',
  password: 'demo',
  accountId: 'demo',
  claims: {
    sub: 'demo',
    name: 'Demo User',
    given_name: 'Demo',
    family_name: 'User',
    email: 'demo@example.com',
    email_verified: true,
  },
} as const;

// Lifetimes (seconds). Refresh tokens, sessions and grants match the token handler's default
// session lifetime (8 hours).
const AUTHORIZATION_CODE_TTL = 60;
const ID_TOKEN_TTL = 60 * 60;
const REFRESH_TOKEN_TTL = 8 * 60 * 60;
const SESSION_TTL = 8 * 60 * 60;
const GRANT_TTL = 8 * 60 * 60;
const INTERACTION_TTL = 10 * 60;

export async function startDemoProvider(options: DemoProviderOptions): Promise<DemoProvider> {
  const host = options.host ?? '127.0.0.1';
  const accessTokenTtl = options.accessTokenTtl ?? 300;
  const { apiAudience } = options;
  const opaque = options.opaqueAccessTokens === true;

  // The issuer must be known before the Provider is constructed, and with port 0 the port is only
  // known once the server listens: so listen first, build the Provider, then attach the handler.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8081, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const configuration: Configuration = {
    // Our own storage instead of the built-in "development-only" one (same behaviour, no warning),
    // isolated per provider instance so parallel test files do not share state.
    adapter: createMemoryAdapter(),
    // The demo only: its clients run on loopback, which oidc-provider's default dispatcher refuses.
    fetch: (url: URL | string, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _dispatcher, ...rest } = init;
      return (options.fetch ?? ((u, o) => globalThis.fetch(u, o)))(url, rest);
    },

    // Fresh keys on every start: nothing secret is ever committed, and a restarted provider
    // invalidates old tokens, which is what a key rotation test wants anyway.
    jwks: { keys: [generateSigningKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },

    clients: options.clients.map((client) => ({
      ...toClientMetadata(client),
      ...(options.dpop ? { dpop_bound_access_tokens: true } : {}),
      // RFC 9701: this client's introspection responses come as a JWT signed by the provider.
      ...(opaque ? { introspection_signed_response_alg: 'RS256' } : {}),
    })),
    responseTypes: ['code'],

    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    // Put the granted profile/email claims in the ID token even when the access token is not for
    // the userinfo endpoint: the token handler shows the SPA the ID token's claims.
    conformIdTokenClaims: false,

    // PKCE for every client, confidential ones included (the default only requires it for
    // public clients). Only S256 is supported by oidc-provider 9.
    pkce: { required: () => true },

    // The default issues refresh tokens only for `offline_access` + consent. oidc-provider also
    // drops `offline_access` from any authorization request without prompt=consent (OIDC Core
    // 11), so a token handler asking for `openid profile offline_access` would get no refresh
    // token. Issue one to every client that may use the refresh_token grant.
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: Client) =>
      client.grantTypeAllowed('refresh_token'),
    // Rotate on every use; presenting a consumed refresh token again fails (invalid_grant) and
    // revokes the whole grant (reuse detection).
    rotateRefreshToken: true,

    ttl: {
      AccessToken: (_ctx: KoaContextWithOIDC, token: BaseTokenLike) =>
        token.resourceServer?.accessTokenTTL ?? accessTokenTtl,
      AuthorizationCode: AUTHORIZATION_CODE_TTL,
      IdToken: ID_TOKEN_TTL,
      // A rotated refresh token keeps the remaining lifetime of the one it replaces, so rotation
      // never extends a session beyond REFRESH_TOKEN_TTL.
      RefreshToken: (ctx: KoaContextWithOIDC) => {
        const rotated = ctx?.oidc?.entities?.RotatedRefreshToken;
        if (rotated && typeof rotated.remainingTTL === 'number') {
          return Math.max(1, rotated.remainingTTL);
        }
        return REFRESH_TOKEN_TTL;
      },
      Session: SESSION_TTL,
      Grant: GRANT_TTL,
      Interaction: INTERACTION_TTL,
    },

    // The token handler talks to the OP from a server, never from browser JavaScript.
    clientBasedCORS: () => false,

    interactions: {
      url: (_ctx: KoaContextWithOIDC, interaction: Interaction) => `/interaction/${interaction.uid}`,
    },

    renderError,

    features: {
      // Our own interaction pages below replace the development ones.
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        // A client may revoke only its own tokens (the documented default, made explicit).
        allowedPolicy: async (_ctx: KoaContextWithOIDC, client: Client, token: BaseTokenLike) => {
          if (token.clientId !== client.clientId) {
            throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      // Signing out here tells every client with a backchannel_logout_uri (the token handler).
      backchannelLogout: { enabled: true },
      // On by default in oidc-provider; a nonce secret lets it hand out nonces (RFC 9449 §8).
      ...(options.dpop ? { dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => options.dpop?.requireNonce === true } } : {}),
      // The phantom token pattern: the token handler introspects the opaque tokens it holds.
      introspection: {
        enabled: opaque,
        // A client may introspect only the tokens issued to it.
        allowedPolicy: async (_ctx: KoaContextWithOIDC, client: Client, token: BaseTokenLike) => token.clientId === client.clientId,
      },
      jwtIntrospection: { enabled: opaque },
      pushedAuthorizationRequests: {
        enabled: true,
        requirePushedAuthorizationRequests: options.requirePar === true,
      },
      // JWT access tokens for the example API. Three settings work together:
      // - defaultResource: a client that sends no `resource` at the authorization endpoint still
      //   gets the API as the audience (the code and the refresh token remember it);
      // - useGrantedResource: at the token endpoint (code and refresh grants) oidc-provider
      //   otherwise issues an *opaque* token for the userinfo endpoint when the client sends no
      //   `resource` and asked for `openid`; this makes it use the granted resource instead;
      // - getResourceServerInfo: the audience, format and lifetime of the API's tokens.
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: KoaContextWithOIDC, _client: Client, oneOf?: string[]) => {
          if (oneOf) return apiAudience && oneOf.includes(apiAudience) ? apiAudience : oneOf;
          return apiAudience;
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (
          _ctx: KoaContextWithOIDC,
          resourceIndicator: string,
        ): Promise<ResourceServerInfo> => {
          if (!apiAudience || resourceIndicator !== apiAudience) {
            throw new errors.InvalidTarget();
          }
          return {
            // The OIDC scopes double as the API's scopes, so the access token's `scope` claim
            // mirrors what the user consented to (as most commercial IdPs do).
            scope: 'openid profile email offline_access',
            audience: apiAudience,
            accessTokenFormat: opaque ? 'opaque' : 'jwt',
            accessTokenTTL: accessTokenTtl,
            ...(opaque ? {} : { jwt: { sign: { alg: 'RS256' } } }),
          };
        },
      },
    },
  };

  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(path);
    if (match) {
      handleInteraction(provider, req, res, match[1] as string, match[2]).catch((err: unknown) => {
        sendInteractionError(res, err);
      });
      return;
    }
    void callback(req, res);
  });

  return {
    issuer,
    provider,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // fetch keeps connections alive; close them so close() does not wait for their timeout.
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Configuration helpers

function toClientMetadata(client: DemoClient): ClientMetadata {
  return {
    client_id: client.client_id,
    ...(client.client_secret !== undefined ? { client_secret: client.client_secret } : {}),
    ...(client.jwks !== undefined ? { jwks: client.jwks } : {}),
    token_endpoint_auth_method: client.token_endpoint_auth_method,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris,
    ...(client.backchannel_logout_uri !== undefined ? { backchannel_logout_uri: client.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
}

function generateSigningKey(): JsonWebKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // A stable kid derived from the public key (RFC 7638-like), so tokens name their key.
  const kid = createHash('sha256').update(`${jwk.e}.${jwk.n}`).digest('base64url').slice(0, 16);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' } as JsonWebKey;
}

async function findAccount(_ctx: KoaContextWithOIDC, id: string): Promise<Account | undefined> {
  if (id !== DEMO_USER.accountId) return undefined;
  return {
    accountId: DEMO_USER.accountId,
    claims: () => ({ ...DEMO_USER.claims }),
  };
}

function checkPassword(username: string, password: string): boolean {
  // Hash first so the comparison is constant-time whatever the input lengths.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  const userOk = timingSafeEqual(digest(username), digest(DEMO_USER.username));
  const passwordOk = timingSafeEqual(digest(password), digest(DEMO_USER.password));
  return userOk && passwordOk;
}

/**
 * Per-instance in-memory storage implementing oidc-provider's adapter interface (what its own
 * development adapter does, minus the warning and the process-wide sharing).
 */
function createMemoryAdapter(): new (model: string) => Adapter {
  type Entry = { payload: AdapterPayload; expiresAt: number };
  const store = new Map<string, Entry>();
  const byGrant = new Map<string, Set<string>>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  // oidc-provider checks expiry itself; keep records a little longer so it can say "expired"
  // instead of "not found".
  const GRACE_MS = 15_000;

  const read = (key: string): AdapterPayload | undefined => {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  let lastSweep = Date.now();
  // Drop expired records now and then, so a long-running local stack does not grow forever.
  const sweep = () => {
    const now = Date.now();
    lastSweep = now;
    for (const [key, entry] of store) if (entry.expiresAt <= now) store.delete(key);
    for (const [grantId, keys] of byGrant) {
      for (const key of keys) if (!store.has(key)) keys.delete(key);
      if (keys.size === 0) byGrant.delete(grantId);
    }
  };

  return class MemoryAdapter implements Adapter {
    constructor(private readonly model: string) {}

    private key(id: string) {
      return `${this.model}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      if (Date.now() - lastSweep > 60_000) sweep();
      const key = this.key(id);
      const expiresAt =
        typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 + GRACE_MS : Infinity;
      store.set(key, { payload, expiresAt });
      if (typeof payload.grantId === 'string') {
        const keys = byGrant.get(payload.grantId) ?? new Set<string>();
        keys.add(key);
        byGrant.set(payload.grantId, keys);
      }
      if (this.model === 'Session' && typeof payload.uid === 'string') byUid.set(payload.uid, id);
      if (typeof payload.userCode === 'string') byUserCode.set(payload.userCode, id);
    }

    async find(id: string) {
      return read(this.key(id));
    }

    async findByUid(uid: string) {
      const id = byUid.get(uid);
      return id === undefined ? undefined : read(this.key(id));
    }

    async findByUserCode(userCode: string) {
      const id = byUserCode.get(userCode);
      return id === undefined ? undefined : read(this.key(id));
    }

    async consume(id: string) {
      const payload = read(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string) {
      const key = this.key(id);
      const payload = read(key);
      store.delete(key);
      if (typeof payload?.grantId === 'string') byGrant.get(payload.grantId)?.delete(key);
      if (payload?.uid && byUid.get(payload.uid) === id) byUid.delete(payload.uid);
      if (payload?.userCode && byUserCode.get(payload.userCode) === id) {
        byUserCode.delete(payload.userCode);
      }
    }

    async revokeByGrantId(grantId: string) {
      for (const key of byGrant.get(grantId) ?? []) store.delete(key);
      byGrant.delete(grantId);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// HTML pages. Plain forms, no JavaScript, every dynamic value escaped.

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}
label,input,button{display:block;width:100%;box-sizing:border-box;margin:.25rem 0}
input,button{padding:.5rem}.error{color:#b00020}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  // No script, no framing (clickjacking on the login and consent pages).
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
} as const;

function sendPage(res: ServerResponse, status: number, html: string) {
  res.writeHead(status, PAGE_HEADERS);
  res.end(html);
}

function loginPage(uid: string, clientId: string, error?: string, username = ''): string {
  return page(
    'Sign in',
    `<p>to continue to <strong>${escapeHtml(clientId)}</strong></p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="on">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required value="${escapeHtml(username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
<button type="submit">Cancel</button>
</form>`,
  );
}

function consentPage(uid: string, clientId: string, interaction: Interaction): string {
  const { details } = interaction.prompt;
  const scopes = new Set<string>(details.missingOIDCScope ?? []);
  for (const list of Object.values(details.missingResourceScopes ?? {})) {
    for (const scope of list) scopes.add(scope);
  }
  const resources = Object.keys(details.missingResourceScopes ?? {});
  const claims = details.missingOIDCClaims ?? [];
  return page(
    'Authorize',
    `<p><strong>${escapeHtml(clientId)}</strong> asks for:</p>
<ul id="scopes">${[...scopes].map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>
${claims.length ? `<p>Claims:</p><ul>${claims.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>` : ''}
${resources.length ? `<p>For use at:</p><ul>${resources.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm">
<button type="submit">Allow</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
<button type="submit">Deny</button>
</form>`,
  );
}

// oidc-provider hands us its logout form (a hidden `xsrf` input, action /session/end/confirm)
// with the buttons meant to sit outside it; put them inside so it is one plain form.
async function logoutSource(ctx: KoaContextWithOIDC, form: string) {
  const buttons =
    '<button type="submit" name="logout" value="yes">Yes, sign me out</button>' +
    '<button type="submit">No, stay signed in</button>';
  ctx.type = 'html';
  ctx.body = page(`Sign out from ${ctx.host}?`, form.replace('</form>', `${buttons}</form>`));
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<p>You have been signed out.</p>');
}

async function renderError(
  ctx: KoaContextWithOIDC,
  out: { error?: string; error_description?: string },
) {
  ctx.type = 'html';
  ctx.body = page(
    'Something went wrong',
    `<p class="error"><strong>${escapeHtml(out.error)}</strong></p>
<p>${escapeHtml(out.error_description)}</p>`,
  );
}

// ---------------------------------------------------------------------------------------------
// Interaction routes: GET /interaction/:uid, POST /interaction/:uid/{login,confirm,abort}

async function handleInteraction(
  provider: Provider,
  req: IncomingMessage,
  res: ServerResponse,
  uid: string,
  action: string | undefined,
) {
  const interaction = await provider.interactionDetails(req, res);
  // The interaction cookie is path-scoped to this uid, but check anyway.
  if (interaction.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  const clientId = String(interaction.params.client_id ?? '');
  const prompt = interaction.prompt.name;

  if (req.method === 'GET' && action === undefined) {
    if (prompt === 'login') return sendPage(res, 200, loginPage(uid, clientId));
    if (prompt === 'consent') return sendPage(res, 200, consentPage(uid, clientId, interaction));
    return sendPage(res, 400, page('Unsupported prompt', `<p>${escapeHtml(prompt)}</p>`));
  }
  if (req.method !== 'POST' || action === undefined) {
    res.writeHead(405, { Allow: 'GET, POST', 'Cache-Control': 'no-store' });
    res.end();
    return;
  }

  const form = await readForm(req);

  if (action === 'abort') {
    return provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  }

  if (action === 'login') {
    if (prompt !== 'login') throw new errors.InvalidRequest('no login is pending');
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    if (!checkPassword(username, password)) {
      // Re-show the form with the error; no code is issued.
      return sendPage(
        res,
        200,
        loginPage(uid, clientId, 'Invalid username or password.', username),
      );
    }
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: DEMO_USER.accountId } },
      { mergeWithLastSubmission: false },
    );
  }

  // action === 'confirm'
  if (prompt !== 'consent') throw new errors.InvalidRequest('no consent is pending');
  const accountId = interaction.session?.accountId;
  if (!accountId) throw new errors.SessionNotFound('no signed-in user');
  const grant =
    (interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined) ??
    new provider.Grant({ accountId, clientId });
  const { details } = interaction.prompt;
  if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(
    req,
    res,
    { consent: interaction.grantId ? {} : { grantId } },
    { mergeWithLastSubmission: true },
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const limit = 16 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new errors.InvalidRequest('form too large');
    chunks.push(chunk);
  }
  if (size === 0) return new URLSearchParams();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new errors.InvalidRequest('expected a form');
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendInteractionError(res: ServerResponse, err: unknown) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof errors.OIDCProviderError) {
    // e.g. SessionNotFound when the interaction expired or its cookie is missing.
    sendPage(
      res,
      err.statusCode || 400,
      page('Sign-in failed', `<p class="error">${escapeHtml(err.error_description ?? err.message)}</p>`),
    );
    return;
  }
  console.error('demo provider: interaction failed', err);
  sendPage(res, 500, page('Sign-in failed', '<p class="error">Internal error.</p>'));
}
