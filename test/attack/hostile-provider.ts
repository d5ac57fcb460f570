/**
 * TEST DOUBLE: a hostile OpenID provider. No real provider misbehaves on purpose, so this small
 * node:http server (loopback only, keys and tokens made with jose) plays one that can: per test,
 * mutators bend its discovery document, its key set, the authorization response and the token
 * response (alg none, HMAC keyed with its own public key, foreign keys, odd kids, wrong claims,
 * foreign JWT types, odd token types and lifetimes, huge tokens, 5xx, HTML, malformed JSON, slow
 * answers). With no mutators it is a correct, strict provider: client authentication, exact
 * redirect URI, PKCE S256, single-use codes, rotating refresh tokens, a userinfo endpoint that
 * takes only the access tokens it issued, and token introspection (RFC 7662) of those tokens,
 * answered as JSON, as a signed RFC 9701 response, or, for `Accept: application/jwt`, as Curity
 * answers: the phantom JWT itself (204 when inactive), which no real provider in the test suite speaks.
 *
 * It also serves a recording API under /api (the proxy's upstream in these tests), and keeps every
 * code, token and secret it hands out in `secrets`, so tests can prove none of them leaks.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

export type Endpoint = 'discovery' | 'jwks' | 'authorize' | 'token' | 'revoke' | 'userinfo' | 'introspect';
/** How an introspection was answered: plain JSON, RFC 9701's signed response, or Curity's application/jwt. */
export type IntrospectionAnswer = 'json' | 'token-introspection+jwt' | 'jwt';
export type SignWith = 'signing_key' | 'other_key' | 'none' | 'hs256_public_key';
export type Grant = 'authorization_code' | 'refresh_token';

export interface RawReply {
  readonly status: number;
  readonly contentType?: string;
  readonly body: string;
  /** Sends the body in 16 KB pieces without a Content-Length. */
  readonly chunked?: boolean;
  /** Sends the body's characters as single bytes (Latin-1), so it need not be valid UTF-8. */
  readonly latin1?: boolean;
  /** More response headers (a `DPoP-Nonce`). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Mutators {
  /** Edits the discovery document before it is served. */
  discovery?: (doc: Record<string, unknown>) => void;
  /** Replaces the published key set (starts with the signing key). */
  jwks?: (keys: JWK[], spare: { other: JWK; signing: JWK }) => JWK[];
  /** Edits the redirect back to the client: `code`, `state`, `iss`. */
  authorize?: (params: URLSearchParams) => void;
  /** Edits the ID token's claims and header before signing. */
  idToken?: (claims: Record<string, unknown>, header: Record<string, unknown>, grant: Grant) => void;
  /** How the ID token is signed: the published key (default), a key not in the JWKS, none, or HS256 keyed with the public key. */
  signWith?: SignWith;
  /** Edits the token response body (after the ID token is minted). */
  tokenResponse?: (body: Record<string, unknown>, grant: Grant) => void;
  /** Edits the userinfo claims (and the header, when signed) before they are sent. */
  userinfo?: (claims: Record<string, unknown>, header: Record<string, unknown>) => void;
  /** Answers userinfo as a JWT (`application/jwt`), signed as `signWith` says. */
  userinfoJwt?: boolean;
  /** The access token's length (default 43, like oidc-provider's opaque tokens). */
  accessTokenLength?: number;
  /** The refresh token's length (default 43). */
  refreshTokenLength?: number;
  /** Puts the correct `at_hash` for the access token in the ID token. */
  atHash?: boolean;
  /**
   * Edits the introspection JWT's claims and header before signing: RFC 9701's outer claims (with
   * `token_introspection` inside), or the phantom JWT's for application/jwt.
   */
  introspection?: (claims: Record<string, unknown>, header: Record<string, unknown>, answer: IntrospectionAnswer) => void;
  /** How the introspection JWT is signed (default: the published key). */
  introspectionSignWith?: SignWith;
  /** Says every token is inactive. */
  introspectionInactive?: boolean;
  /** Answers an endpoint with exactly this instead. */
  raw?: Partial<Record<Endpoint, RawReply>>;
  /** Waits this long (ms) before answering an endpoint. */
  delayMs?: Partial<Record<Endpoint, number>>;
}

export interface UpstreamRecord {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
}

export interface IntrospectionRecord {
  readonly accept: string;
  readonly tokenTypeHint: string | null;
  /** How the client authenticated (the call is refused without it). */
  readonly auth: 'basic' | 'post' | 'none';
}

/** The `aud` of the phantom JWTs (application/jwt): the API's, not the token handler's. */
export const HOSTILE_API_AUDIENCE = 'https://api.hostile.test';

export interface HostileProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  /** Every code, token and secret handed out; none may ever reach a log line or an answer. */
  readonly secrets: Set<string>;
  /** Requests to each endpoint, in order (paths with their query); a token request's DPoP proof too. */
  readonly calls: { endpoint: Endpoint | 'api' | 'other'; grant?: string; dpop?: string }[];
  /** What reached the recording API under /api. */
  readonly upstream: UpstreamRecord[];
  /** Every introspection request, in order. */
  readonly introspections: IntrospectionRecord[];
  mutators: Mutators;
  reset(): void;
  count(endpoint: Endpoint, grant?: Grant): number;
  /**
   * A back-channel logout token (OIDC BCL §2.4) for `sid`, good unless `change` breaks it: it edits
   * the claims and header in place; `signWith` signs it wrongly (as signWith for ID tokens).
   */
  mintLogoutToken(sid: string, change?: (claims: Record<string, unknown>, header: Record<string, unknown>) => void, signWith?: Mutators['signWith']): Promise<string>;
  close(): Promise<void>;
}

interface IssuedCode {
  challenge: string;
  nonce: string | undefined;
  redirectUri: string;
  used: boolean;
}

const randomToken = (length = 43): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil((length * 3) / 4) + 3));
  return Buffer.from(bytes).toString('base64url').slice(0, length);
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startHostileProvider(options: { clientId: string; redirectUri: string }): Promise<HostileProvider> {
  const signing = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const signingJwk: JWK = { ...(await exportJWK(signing.publicKey)), kid: 'hostile-1', alg: 'RS256', use: 'sig' };
  const otherJwk: JWK = { ...(await exportJWK(other.publicKey)), kid: 'hostile-2', alg: 'RS256', use: 'sig' };
  const clientSecret = randomToken(43);
  const secrets = new Set<string>([clientSecret]);
  const codes = new Map<string, IssuedCode>();
  const refreshTokens = new Map<string, { sub: string }>();
  const accessTokens = new Map<string, { sub: string; iat: number; exp: number }>();
  const calls: HostileProvider['calls'] = [];
  const upstream: UpstreamRecord[] = [];
  const introspections: IntrospectionRecord[] = [];
  let issuer = '';

  const provider: HostileProvider = {
    get issuer() {
      return issuer;
    },
    clientId: options.clientId,
    clientSecret,
    redirectUri: options.redirectUri,
    secrets,
    calls,
    upstream,
    introspections,
    mutators: {},
    reset() {
      provider.mutators = {};
    },
    count(endpoint, grant) {
      return calls.filter((c) => c.endpoint === endpoint && (grant === undefined || c.grant === grant)).length;
    },
    async mintLogoutToken(sid, change, signWith) {
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        iss: issuer, aud: options.clientId, iat: now, exp: now + 120, jti: randomToken(22), sid,
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      };
      const header: Record<string, unknown> = { alg: 'RS256', kid: signingJwk.kid, typ: 'logout+jwt' };
      change?.(claims, header);
      const kept = provider.mutators.signWith;
      provider.mutators.signWith = signWith;
      try {
        return await signIdToken(claims, header);
      } finally {
        provider.mutators.signWith = kept;
      }
    },
    close: () => Promise.resolve(),
  };

  const discovery = (): Record<string, unknown> => ({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    revocation_endpoint: `${issuer}/revoke`,
    userinfo_endpoint: `${issuer}/userinfo`,
    introspection_endpoint: `${issuer}/introspect`,
    end_session_endpoint: `${issuer}/logout`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    authorization_response_iss_parameter_supported: true,
  });

  async function signIdToken(claims: Record<string, unknown>, header: Record<string, unknown>): Promise<string> {
    return sign(claims, header, provider.mutators.signWith ?? 'signing_key');
  }

  async function sign(claims: Record<string, unknown>, header: Record<string, unknown>, how: SignWith): Promise<string> {
    if (how === 'none') {
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      return `${b64({ ...header, alg: 'none' })}.${b64(claims)}.`;
    }
    if (how === 'hs256_public_key') {
      // The classic key-confusion forgery: HMAC "keyed" with the provider's public key, which anyone can fetch.
      const secret = new TextEncoder().encode(JSON.stringify(signingJwk));
      return new SignJWT(claims).setProtectedHeader({ ...header, alg: 'HS256' } as never).sign(secret);
    }
    const key = how === 'other_key' ? other.privateKey : signing.privateKey;
    return new SignJWT(claims).setProtectedHeader(header as never).sign(key);
  }

  async function mintTokens(grant: Grant, sub: string, nonce: string | undefined): Promise<Record<string, unknown>> {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = { iss: issuer, sub, aud: options.clientId, iat: now, exp: now + 300, auth_time: now, name: 'Alice Hostile' };
    if (nonce !== undefined) claims['nonce'] = nonce;
    const header: Record<string, unknown> = { alg: 'RS256', kid: signingJwk.kid, typ: 'JWT' };
    const accessToken = randomToken(provider.mutators.accessTokenLength ?? 43);
    accessTokens.set(accessToken, { sub, iat: now, exp: now + 300 });
    if (provider.mutators.atHash) claims['at_hash'] = createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');
    provider.mutators.idToken?.(claims, header, grant);
    const refreshToken = randomToken(provider.mutators.refreshTokenLength ?? 43);
    refreshTokens.set(refreshToken, { sub });
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: 300,
      refresh_token: refreshToken,
      id_token: await signIdToken(claims, header),
      scope: 'openid profile offline_access',
    };
    provider.mutators.tokenResponse?.(body, grant);
    for (const value of [body['access_token'], body['refresh_token'], body['id_token']]) if (typeof value === 'string' && value) secrets.add(value);
    return body;
  }

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  function clientAuthMethod(req: IncomingMessage, form: URLSearchParams): IntrospectionRecord['auth'] {
    if (!clientAuthenticated(req, form)) return 'none';
    return (req.headers.authorization ?? '').startsWith('Basic ') ? 'basic' : 'post';
  }

  /** RFC 7662, and RFC 9701 or Curity's application/jwt when asked for by Accept. */
  async function introspectEndpoint(req: IncomingMessage, res: ServerResponse, form: URLSearchParams): Promise<void> {
    const accept = req.headers.accept ?? '';
    const auth = clientAuthMethod(req, form);
    introspections.push({ accept, tokenTypeHint: form.get('token_type_hint'), auth });
    if (auth === 'none') return json(res, 401, { error: 'invalid_client' });
    const now = Math.floor(Date.now() / 1000);
    const known = accessTokens.get(form.get('token') ?? '');
    const active = !!known && known.exp > now && !provider.mutators.introspectionInactive;
    const how = provider.mutators.introspectionSignWith ?? 'signing_key';
    const answer: IntrospectionAnswer = accept.includes('application/jwt') ? 'jwt' : accept.includes('application/token-introspection+jwt') ? 'token-introspection+jwt' : 'json';
    const send = (type: string, body: string) => {
      secrets.add(body);
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const details = active
      ? { active: true, sub: known.sub, iat: known.iat, exp: known.exp, scope: 'openid profile', client_id: options.clientId, iss: issuer, aud: HOSTILE_API_AUDIENCE, token_type: 'Bearer' }
      : { active: false };
    if (answer === 'json') return json(res, 200, details);
    if (answer === 'jwt') {
      if (!active) {
        res.writeHead(204);
        res.end();
        return;
      }
      const claims: Record<string, unknown> = { iss: issuer, sub: known.sub, aud: HOSTILE_API_AUDIENCE, iat: now, exp: known.exp, scope: 'openid profile', client_id: options.clientId, jti: randomToken(16) };
      const header: Record<string, unknown> = { alg: 'RS256', kid: signingJwk.kid, typ: 'at+jwt' };
      provider.mutators.introspection?.(claims, header, answer);
      return send('application/jwt', await sign(claims, header, how));
    }
    const claims: Record<string, unknown> = { iss: issuer, aud: options.clientId, iat: now, token_introspection: details };
    const header: Record<string, unknown> = { alg: 'RS256', kid: signingJwk.kid, typ: 'token-introspection+jwt' };
    provider.mutators.introspection?.(claims, header, answer);
    return send('application/token-introspection+jwt; charset=utf-8', await sign(claims, header, how));
  }

  function clientAuthenticated(req: IncomingMessage, form: URLSearchParams): boolean {
    const header = req.headers.authorization ?? '';
    if (header.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString();
      const colon = decoded.indexOf(':');
      const id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      const secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      return id === options.clientId && secret === clientSecret;
    }
    return form.get('client_id') === options.clientId && form.get('client_secret') === clientSecret;
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse, form: URLSearchParams): Promise<void> {
    if (!clientAuthenticated(req, form)) return json(res, 401, { error: 'invalid_client' });
    const grant = form.get('grant_type');
    if (grant === 'authorization_code') {
      const code = codes.get(form.get('code') ?? '');
      if (!code || code.used || code.redirectUri !== form.get('redirect_uri')) return json(res, 400, { error: 'invalid_grant' });
      code.used = true;
      const verifier = form.get('code_verifier') ?? '';
      // The PKCE verifier is the token handler's secret; it must never show up anywhere but here.
      if (verifier.length >= 16) secrets.add(verifier);
      const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url');
      if (challenge !== code.challenge) return json(res, 400, { error: 'invalid_grant' });
      return json(res, 200, await mintTokens('authorization_code', 'alice', code.nonce));
    }
    if (grant === 'refresh_token') {
      const token = form.get('refresh_token') ?? '';
      const known = refreshTokens.get(token);
      if (!known) return json(res, 400, { error: 'invalid_grant' });
      refreshTokens.delete(token);
      return json(res, 200, await mintTokens('refresh_token', known.sub, undefined));
    }
    return json(res, 400, { error: 'unsupported_grant_type' });
  }

  async function userinfoEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const authorization = req.headers.authorization ?? '';
    const known = authorization.startsWith('Bearer ') ? accessTokens.get(authorization.slice(7)) : undefined;
    if (!known) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_token' }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const signed = provider.mutators.userinfoJwt === true;
    const claims: Record<string, unknown> = { ...(signed ? { iss: issuer, aud: options.clientId, iat: now, exp: now + 300 } : {}), sub: known.sub, name: 'Alice Hostile', email: 'alice@hostile.example' };
    const header: Record<string, unknown> = { alg: 'RS256', kid: signingJwk.kid, typ: 'JWT' };
    provider.mutators.userinfo?.(claims, header);
    if (!signed) return json(res, 200, claims);
    const jwt = await signIdToken(claims, header);
    secrets.add(jwt);
    res.writeHead(200, { 'content-type': 'application/jwt', 'cache-control': 'no-store' });
    res.end(jwt);
  }

  function authorizeEndpoint(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    const redirectUri = q.get('redirect_uri') ?? '';
    if (q.get('client_id') !== options.clientId || redirectUri !== options.redirectUri) return json(res, 400, { error: 'invalid_request' });
    if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !q.get('state')) {
      return json(res, 400, { error: 'invalid_request' });
    }
    const code = randomToken();
    secrets.add(code);
    codes.set(code, { challenge: q.get('code_challenge')!, nonce: q.get('nonce') ?? undefined, redirectUri, used: false });
    const params = new URLSearchParams({ code, state: q.get('state')!, iss: issuer });
    provider.mutators.authorize?.(params);
    res.writeHead(302, { location: `${redirectUri}?${params}` });
    res.end();
  }

  async function route(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    const endpoint: Endpoint | 'api' | 'other' =
      url.pathname === '/.well-known/openid-configuration' ? 'discovery'
        : url.pathname === '/jwks' ? 'jwks'
          : url.pathname === '/authorize' ? 'authorize'
            : url.pathname === '/token' ? 'token'
              : url.pathname === '/revoke' ? 'revoke'
                : url.pathname === '/userinfo' ? 'userinfo'
                : url.pathname === '/introspect' ? 'introspect'
                : url.pathname === '/api' || url.pathname.startsWith('/api/') ? 'api' : 'other';
    const form = new URLSearchParams(req.method === 'POST' ? body : '');
    const dpop = req.headers['dpop'];
    calls.push({ endpoint, ...(endpoint === 'token' ? { grant: form.get('grant_type') ?? '', ...(typeof dpop === 'string' ? { dpop } : {}) } : {}) });
    if (endpoint === 'api') {
      upstream.push({ method: req.method ?? '', path: url.pathname + url.search, headers: { ...(req.headers as Record<string, string>) } });
      return json(res, 200, { ok: true });
    }
    if (endpoint === 'other') return json(res, 404, { error: 'not_found' });
    const delay = provider.mutators.delayMs?.[endpoint];
    if (delay) await sleep(delay);
    const raw = provider.mutators.raw?.[endpoint];
    if (raw) {
      res.writeHead(raw.status, { ...(raw.contentType ? { 'content-type': raw.contentType } : {}), ...raw.headers });
      if (raw.chunked) {
        for (let i = 0; i < raw.body.length && !res.destroyed; i += 16_384) {
          res.write(raw.body.slice(i, i + 16_384));
          await sleep(1);
        }
      }
      res.end(raw.chunked ? undefined : raw.latin1 ? Buffer.from(raw.body, 'latin1') : raw.body);
      return;
    }
    switch (endpoint) {
      case 'discovery': {
        const doc = discovery();
        provider.mutators.discovery?.(doc);
        return json(res, 200, doc);
      }
      case 'jwks': {
        const keys = provider.mutators.jwks ? provider.mutators.jwks([signingJwk], { other: otherJwk, signing: signingJwk }) : [signingJwk];
        return json(res, 200, { keys });
      }
      case 'authorize':
        return authorizeEndpoint(url, res);
      case 'token':
        return tokenEndpoint(req, res, form);
      case 'userinfo':
        return userinfoEndpoint(req, res);
      case 'introspect':
        return introspectEndpoint(req, res, form);
      case 'revoke':
        if (!clientAuthenticated(req, form)) return json(res, 401, { error: 'invalid_client' });
        refreshTokens.delete(form.get('token') ?? '');
        res.writeHead(200);
        res.end();
        return;
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      route(req, res, Buffer.concat(chunks).toString()).catch((error: unknown) => {
        // A bug in the double must fail loudly, never look like a provider's 500 on purpose.
        console.error('hostile provider bug', error);
        if (!res.headersSent) res.writeHead(599);
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return provider;
}
