/**
 * Every `TH_*` setting, once: its type, default, bounds, whether it is secret, which platforms read
 * it, and one line of documentation. The parser (parse.ts), the README's configuration table
 * (`npm run docs`), the `wrangler.toml` check and the Lambda@Edge build all come from this
 * table; a name that is not here is refused at start-up on every platform.
 */
import {
  ASYMMETRIC_ALGS,
  PRIVATE_KEY_ALGS,
  parseAgentPath,
  parseApiRoutes,
  parseAuthParams,
  parseCookieKeys,
  parseHeaderNames,
  parseIssuer,
  parseList,
  parseOrigin,
  parseOrigins,
  parsePagePath,
  parsePrivateJwk,
  parseRouteOptions,
  parseScope,
  parseScopes,
  parseSigningAlgs,
  parseTokenParams,
} from './validators.js';
import { parseStoreEndpoint, parseStoreKind } from './session-store.js';

export type Platform = 'node' | 'workers' | 'lambda-edge';
export const PLATFORMS: readonly Platform[] = ['node', 'workers', 'lambda-edge'];
export const PLATFORM_NAMES: Readonly<Record<Platform, string>> = { node: 'Node', workers: 'Workers', 'lambda-edge': 'Lambda@Edge' };

/** The spellings a boolean setting accepts, in any letter case. */
export const TRUE_WORDS = ['true', '1', 'yes', 'on'] as const;
export const FALSE_WORDS = ['false', '0', 'no', 'off'] as const;
/** The other spellings, for messages and the README: "1/0, yes/no and on/off". */
export const BOOLEAN_SPELLINGS = TRUE_WORDS.slice(1).map((t, i) => `${t}/${FALSE_WORDS[i + 1]}`).join(', ').replace(/, ([^,]*)$/, ' and $1');

/** Reads the trimmed, non-empty text of one setting; reports into `problems`, naming `name`. */
export type ParseFn<T> = (value: string, name: string, problems: string[]) => T;

interface Common {
  readonly name: `TH_${string}`;
  /** One line for the README's table (Markdown). */
  readonly doc: string;
  /** Refused when missing or empty. */
  readonly required?: true;
  /** For the table: a requirement that depends on other settings, which the parser checks itself. */
  readonly requiredDoc?: string;
  /** The text used when the setting is missing or empty; it goes through the same parsing. */
  readonly default?: string;
  /** For the table, when the default depends on other settings. */
  readonly defaultDoc?: string;
  /** Never echoed in a problem; a Worker secret, and may be KMS ciphertext on Lambda@Edge. */
  readonly secret?: true;
  /** Which platforms read it; every platform when absent. Set elsewhere, it is refused. */
  readonly platforms?: readonly Platform[];
}

export type SettingSpec =
  | (Common & { readonly type: 'text'; readonly pattern?: RegExp; readonly patternDoc?: string })
  | (Common & { readonly type: 'integer'; readonly default: string; readonly min: number; readonly max: number; readonly unit: string })
  | (Common & { readonly type: 'boolean'; readonly default: string })
  | (Common & { readonly type: 'choice'; readonly values: readonly string[] })
  | (Common & { readonly type: 'parsed'; readonly parse: ParseFn<unknown> });

export const SETTINGS = [
  { name: 'TH_PUBLIC_ORIGIN', type: 'parsed', parse: parseOrigin, required: true, doc: 'the origin the SPA and token handler are served from, e.g. `https://www.example.com`' },
  { name: 'TH_ISSUER', type: 'parsed', parse: parseIssuer, required: true, doc: "the OpenID provider's issuer URL, exactly as its discovery document says" },
  { name: 'TH_CLIENT_ID', type: 'text', required: true, doc: 'the client id registered at the provider' },
  { name: 'TH_CLIENT_SECRET', type: 'text', secret: true, requiredDoc: 'one of these two', doc: 'for `client_secret_basic` / `client_secret_post`' },
  {
    name: 'TH_CLIENT_PRIVATE_KEY',
    type: 'parsed',
    parse: parsePrivateJwk,
    secret: true,
    requiredDoc: 'one of these two',
    doc: `a private JWK (JSON) for \`private_key_jwt\`; ${PRIVATE_KEY_ALGS.join(', ')}`,
  },
  {
    name: 'TH_CLIENT_AUTH',
    type: 'choice',
    values: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    defaultDoc: 'from what is set',
    doc: 'how the client authenticates to the provider (unset: `private_key_jwt` when only a private key is set, otherwise `client_secret_basic`)',
  },
  {
    name: 'TH_COOKIE_KEYS',
    type: 'parsed',
    parse: parseCookieKeys,
    required: true,
    secret: true,
    doc: '`<id>:<secret>[,<id>:<secret>…]`; ids are letters, digits, `_`; secrets ≥ 32 random characters (weak ones are refused, see below); the first seals, every one unseals',
  },
  {
    name: 'TH_SCOPE',
    type: 'parsed',
    parse: parseScope,
    default: 'openid profile offline_access',
    doc: 'the scopes requested at login; `openid` is always added. The SPA may ask for fewer or others with login/start\'s `scope` (each one of these or of `TH_ALLOWED_SCOPES`)',
  },
  {
    name: 'TH_ALLOWED_SCOPES',
    type: 'parsed',
    parse: parseScopes,
    doc: 'more scopes the SPA may request in login/start\'s `scope`, beside those of `TH_SCOPE`; separated by spaces or commas',
  },
  { name: 'TH_REDIRECT_PATH', type: 'parsed', parse: parsePagePath, default: '/', doc: 'the SPA page the provider returns to' },
  { name: 'TH_POST_LOGOUT_REDIRECT_PATH', type: 'parsed', parse: parsePagePath, default: '/', doc: 'the SPA page the provider returns to after logout' },
  { name: 'TH_AGENT_PATH', type: 'parsed', parse: parseAgentPath, default: '/oauth-agent', doc: "the base path of the agent's endpoints" },
  { name: 'TH_API_ROUTES', type: 'parsed', parse: parseApiRoutes, doc: '`<prefix>=<upstream>[,…]`: the APIs to proxy' },
  {
    name: 'TH_API_ROUTE_OPTIONS',
    type: 'parsed',
    parse: parseRouteOptions,
    doc: '`<prefix>=<option> …[,…]`; options `public`, `allow-sniffing`, `introspect` (phantom token: the opaque access token is introspected into a JWT, see below), `methods:GET|POST…`',
  },
  {
    name: 'TH_INTROSPECTION_FORMAT',
    type: 'choice',
    values: ['token-introspection+jwt', 'jwt'],
    default: 'token-introspection+jwt',
    doc: 'what `introspect` routes ask the provider for and forward: its signed introspection response (RFC 9701), or `jwt`, the phantom JWT of `Accept: application/jwt` (Curity)',
  },
  {
    name: 'TH_INTROSPECTION_CACHE_TTL',
    type: 'integer',
    default: '60',
    // Every entry ends at the token's own exp anyway; the bound is how long a revoked token may still pass.
    min: 0,
    max: 3600,
    unit: 'seconds',
    doc: "how long an introspection answer is reused (never past the token's `exp`); 0 introspects every call; a token revoked at the provider still passes for up to this long",
  },
  {
    name: 'TH_UPSTREAM_TIMEOUT',
    type: 'integer',
    default: '30',
    min: 1,
    max: 900,
    unit: 'seconds',
    doc: "how long to wait for the upstream's answer once the request (with its body) has gone out",
  },
  {
    name: 'TH_IDP_TIMEOUT',
    type: 'integer',
    default: '10',
    // A hung IdP must not hold a login open for long; Lambda@Edge gives a whole request 5 to 30 seconds.
    min: 1,
    max: 60,
    unit: 'seconds',
    doc: 'the time allowed for each call to the provider: discovery, keys, token, revocation, userinfo',
  },
  {
    name: 'TH_COOKIE_PREFIX',
    type: 'text',
    default: 'th',
    pattern: /^[A-Za-z0-9_-]{1,32}$/,
    patternDoc: '1-32 letters, digits, "_" or "-"',
    doc: 'names the cookies: `__Host-<prefix>-at`, `__Secure-<prefix>-rt`, …',
  },
  { name: 'TH_TRUSTED_ORIGINS', type: 'parsed', parse: parseOrigins, doc: 'extra trusted SPA origins (another subdomain of the same site)' },
  { name: 'TH_CORS_ALLOW_HEADERS', type: 'parsed', parse: parseHeaderNames, doc: 'extra request headers a trusted cross-origin SPA may send' },
  {
    name: 'TH_EXTRA_AUTH_PARAMS',
    type: 'parsed',
    parse: parseAuthParams,
    doc: 'authorization parameters the SPA may add, e.g. `prompt,login_hint,ui_locales`; `scope` is always accepted (within `TH_SCOPE` and `TH_ALLOWED_SCOPES`), so listing it is allowed but redundant',
  },
  { name: 'TH_EXTRA_TOKEN_PARAMS', type: 'parsed', parse: parseTokenParams, doc: 'token-request parameters the SPA may add on refresh' },
  {
    name: 'TH_SESSION_LIFETIME',
    type: 'integer',
    default: '28800',
    min: 60,
    max: 400 * 24 * 3600,
    unit: 'seconds',
    doc: 'how long a session lasts from login; refreshing never extends it',
  },
  { name: 'TH_CLOCK_SKEW', type: 'integer', default: '60', min: 0, max: 300, unit: 'seconds', doc: 'allowed on `iat`/`exp`/`nbf`' },
  {
    name: 'TH_ID_TOKEN_SIGNING_ALGS',
    type: 'parsed',
    parse: parseSigningAlgs,
    default: 'RS256,PS256,ES256,EdDSA',
    doc: `the ID-token algorithm allow-list; asymmetric algorithms only: ${ASYMMETRIC_ALGS.join(', ')}`,
  },
  { name: 'TH_USE_PAR', type: 'boolean', default: 'false', doc: 'push authorization requests (RFC 9126) when the provider supports it' },
  {
    name: 'TH_DPOP',
    type: 'boolean',
    default: 'false',
    doc: 'sender-constrained tokens (RFC 9449): a key per session, DPoP proofs to the provider and on every proxied call; see [DPoP](#dpop)',
  },
  { name: 'TH_REVOKE_ON_LOGOUT', type: 'boolean', default: 'true', doc: 'revoke the refresh token at logout (RFC 7009)' },
  { name: 'TH_HIDDEN_CLAIMS', type: 'parsed', parse: parseList, doc: 'ID-token claims not returned to the SPA (nor kept in the cookie)' },
  { name: 'TH_LOG_LEVEL', type: 'choice', values: ['debug', 'info', 'warn', 'error'], default: 'info', doc: 'the least severe log lines written' },
  {
    name: 'TH_SESSION_STORE',
    type: 'parsed',
    parse: parseStoreKind,
    defaultDoc: '`memory` on Node; none on Workers and Lambda@Edge',
    doc: 'where shared session state lives (README: "Scaling out"): `memory`, `redis://…`/`rediss://…` (Node), `durable-object` (Workers), `dynamodb://<table>?region=<region>` (Lambda@Edge, Node). Never echoed; a URL with a password belongs in your secret store',
  },
  {
    name: 'TH_BACKCHANNEL_LOGOUT',
    type: 'boolean',
    default: 'false',
    doc: 'OpenID Connect Back-Channel Logout at `{agent}/backchannel-logout`: signing out at the provider ends the session here too; needs `TH_SESSION_STORE`',
  },
  {
    name: 'TH_REFRESH_GRACE',
    type: 'integer',
    default: '30',
    min: 1,
    max: 300,
    unit: 'seconds',
    doc: 'with a session store: how long a refresh that presents the refresh token a concurrent refresh just replaced still gets the same new tokens (README: "Scaling out")',
  },
  {
    name: 'TH_REVOCATION_CACHE_TTL',
    type: 'integer',
    default: '5',
    min: 0,
    max: 300,
    unit: 'seconds',
    doc: 'how long each instance trusts what the store said about a session being revoked (logout, back-channel logout); `0` asks the store on every request',
  },
  {
    name: 'TH_SESSION_STORE_ENDPOINT',
    type: 'parsed',
    parse: parseStoreEndpoint,
    platforms: ['node', 'lambda-edge'],
    doc: 'another DynamoDB endpoint (an origin), for tests and local DynamoDB; only with a `dynamodb://` store',
  },
  {
    name: 'TH_KMS_KEY_ID',
    type: 'text',
    platforms: ['lambda-edge'],
    doc: 'the KMS key (ARN, key id or alias) the encrypted secrets were made with; decryption under any other key is refused',
  },
  {
    name: 'TH_CLOUDWATCH_METRICS',
    type: 'boolean',
    default: 'false',
    platforms: ['node', 'lambda-edge'],
    doc: 'write the metrics as CloudWatch Embedded Metric Format log lines (custom metrics, billed by CloudWatch: Lambda@Edge, or Node on ECS); see [Monitoring](#monitoring)',
  },
] as const satisfies readonly SettingSpec[];

export type Setting = (typeof SETTINGS)[number];
export type SettingName = Setting['name'];
/** The settings that may be KMS ciphertext on Lambda@Edge (and are Worker secrets). */
export type SecretSetting = Extract<Setting, { secret: true }>['name'];

const BY_NAME: ReadonlyMap<string, SettingSpec> = new Map(SETTINGS.map((s) => [s.name, s]));

/** The schema entry for `name`, or undefined when it is not a setting. */
export function settingSpec(name: string): SettingSpec | undefined {
  return BY_NAME.get(name);
}

export function isSecretSetting(name: string): name is SecretSetting {
  return BY_NAME.get(name)?.secret === true;
}

export const SECRET_SETTINGS: readonly SecretSetting[] = SETTINGS.filter((s) => isSecretSetting(s.name)).map((s) => s.name as SecretSetting);

/** True when `platform` reads the setting. */
export function readOn(spec: SettingSpec, platform: Platform): boolean {
  return spec.platforms === undefined || spec.platforms.includes(platform);
}
