/**
 * The one place that turns raw settings (environment variables, Worker bindings, or the bundled
 * JSON of Lambda@Edge) into a validated, frozen {@link Config}, driven by the table in schema.ts.
 * Every problem is collected and reported at once, naming the variable; secret values are never
 * echoed. A `TH_*` name the table does not hold is refused, with the closest known name.
 */
import { cookieNames } from '../core/session/cookie-table.js';
import type { ApiRoute, ClientAuthMethod, Config, LogLevel } from '../core/types.js';
import { BOOLEAN_SPELLINGS, FALSE_WORDS, PLATFORM_NAMES, SETTINGS, TRUE_WORDS, readOn, settingSpec, type Platform, type Setting, type SettingName, type SettingSpec } from './schema.js';
import type { RouteEntry, RouteOptionsEntry } from './validators.js';
import { STORES_BY_PLATFORM } from './session-store.js';

export { isLoopbackHost, type ApiRoute, type ClientAuthMethod, type Config, type CookieKey, type LogLevel } from '../core/types.js';
export type { Platform } from './schema.js';

export type RawConfig = Readonly<Record<string, string | undefined>>;

export interface ParseOptions {
  /** Which platform reads these settings: a setting another platform reads is refused. Default `node`. */
  readonly platform?: Platform;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid token handler configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses and validates every setting; throws {@link ConfigError} listing every problem. */
export function parseConfig(raw: RawConfig, options: ParseOptions = {}): Config {
  const problems = nameProblems(raw, options.platform ?? 'node');
  const read = createReader(raw, problems);

  const publicOrigin = read.parsed('TH_PUBLIC_ORIGIN') ?? '';
  const extraOrigins = read.parsed('TH_TRUSTED_ORIGINS') ?? [];
  const issuer = read.parsed('TH_ISSUER') ?? '';
  const clientId = read.text('TH_CLIENT_ID') ?? '';

  // --- client authentication: the method follows from what is set, unless named ---------------
  const clientSecret = read.text('TH_CLIENT_SECRET');
  const hasPrivateKey = read.given('TH_CLIENT_PRIVATE_KEY') !== undefined;
  const clientPrivateKey = read.parsed('TH_CLIENT_PRIVATE_KEY');
  const clientAuth: ClientAuthMethod = read.choice('TH_CLIENT_AUTH') ?? (hasPrivateKey && clientSecret === undefined ? 'private_key_jwt' : 'client_secret_basic');
  if (clientAuth === 'private_key_jwt') {
    if (!hasPrivateKey) problems.push('TH_CLIENT_PRIVATE_KEY is required when TH_CLIENT_AUTH is private_key_jwt');
  } else if (clientSecret === undefined) {
    problems.push(
      hasPrivateKey
        ? `TH_CLIENT_SECRET is required when TH_CLIENT_AUTH is ${clientAuth}`
        : 'TH_CLIENT_SECRET or TH_CLIENT_PRIVATE_KEY is required (the token handler is a confidential client)',
    );
  }

  const cookieKeys = read.parsed('TH_COOKIE_KEYS') ?? [];
  const redirectPath = read.parsed('TH_REDIRECT_PATH');
  const postLogoutPath = read.parsed('TH_POST_LOGOUT_REDIRECT_PATH');
  const agentPath = read.parsed('TH_AGENT_PATH');
  const apiRoutes = applyRouteOptions(read.parsed('TH_API_ROUTES') ?? [], read.parsed('TH_API_ROUTE_OPTIONS') ?? [], agentPath, problems);
  const cookiePrefix = read.text('TH_COOKIE_PREFIX');
  const platform = options.platform ?? 'node';
  const storeEndpoint = read.parsed('TH_SESSION_STORE_ENDPOINT');
  let sessionStore = read.parsed('TH_SESSION_STORE') ?? (platform === 'node' ? { kind: 'memory' as const } : undefined);
  if (sessionStore && !(STORES_BY_PLATFORM[platform] as readonly string[]).includes(sessionStore.kind)) {
    problems.push(`TH_SESSION_STORE ${sessionStore.kind} cannot be used on ${PLATFORM_NAMES[platform]}; there use ${STORES_BY_PLATFORM[platform].join(' or ')}`);
  }
  if (storeEndpoint !== undefined) {
    if (sessionStore?.kind !== 'dynamodb') problems.push('TH_SESSION_STORE_ENDPOINT is only for a dynamodb:// TH_SESSION_STORE');
    else sessionStore = { ...sessionStore, endpoint: storeEndpoint };
  }

  const backchannelLogout = read.boolean('TH_BACKCHANNEL_LOGOUT');
  if (backchannelLogout && !sessionStore) problems.push('TH_BACKCHANNEL_LOGOUT needs a TH_SESSION_STORE: the revocations must reach every instance');

  const config: Config = {
    publicOrigin,
    issuer,
    clientId,
    clientAuth,
    ...(clientSecret !== undefined && clientAuth !== 'private_key_jwt' ? { clientSecret } : {}),
    ...(clientPrivateKey !== undefined && clientAuth === 'private_key_jwt' ? { clientPrivateKey: Object.freeze(clientPrivateKey) } : {}),
    cookieKeys: Object.freeze(cookieKeys.map((k) => Object.freeze(k))),
    scope: read.parsed('TH_SCOPE'),
    allowedScopes: Object.freeze(read.parsed('TH_ALLOWED_SCOPES') ?? []),
    redirectUri: publicOrigin + redirectPath,
    postLogoutRedirectUri: publicOrigin + postLogoutPath,
    agentPath,
    apiRoutes: Object.freeze(apiRoutes.map((r) => Object.freeze(r))),
    cookiePrefix,
    cookieNames: cookieNames(cookiePrefix),
    trustedOrigins: Object.freeze([publicOrigin, ...extraOrigins.filter((o) => o !== publicOrigin)]),
    ...forwardedParts(publicOrigin),
    extraAuthParams: Object.freeze(read.parsed('TH_EXTRA_AUTH_PARAMS') ?? []),
    extraTokenParams: Object.freeze(read.parsed('TH_EXTRA_TOKEN_PARAMS') ?? []),
    sessionLifetime: read.integer('TH_SESSION_LIFETIME'),
    clockSkew: read.integer('TH_CLOCK_SKEW'),
    usePar: read.boolean('TH_USE_PAR'),
    dpop: read.boolean('TH_DPOP'),
    cloudwatchMetrics: read.boolean('TH_CLOUDWATCH_METRICS'),
    revokeOnLogout: read.boolean('TH_REVOKE_ON_LOGOUT'),
    hiddenClaims: Object.freeze(read.parsed('TH_HIDDEN_CLAIMS') ?? []),
    logLevel: read.choice('TH_LOG_LEVEL') satisfies LogLevel,
    idTokenSigningAlgs: Object.freeze(read.parsed('TH_ID_TOKEN_SIGNING_ALGS')),
    upstreamTimeout: read.integer('TH_UPSTREAM_TIMEOUT') * 1000,
    idpTimeout: read.integer('TH_IDP_TIMEOUT') * 1000,
    corsAllowHeaders: Object.freeze(read.parsed('TH_CORS_ALLOW_HEADERS') ?? []),
    introspectionFormat: read.choice('TH_INTROSPECTION_FORMAT'),
    introspectionCacheTtl: read.integer('TH_INTROSPECTION_CACHE_TTL'),
    backchannelLogout,
    refreshGrace: read.integer('TH_REFRESH_GRACE'),
    revocationCacheTtl: read.integer('TH_REVOCATION_CACHE_TTL') * 1000,
    ...(sessionStore ? { sessionStore: Object.freeze(sessionStore) } : {}),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** What `X-Forwarded-Proto` and `-Host` say upstream: the configured public origin's, never the request's. */
function forwardedParts(publicOrigin: string): { publicProto: string; publicHost: string } {
  if (!publicOrigin) return { publicProto: '', publicHost: '' };
  const url = new URL(publicOrigin);
  return { publicProto: url.protocol.slice(0, -1), publicHost: url.host };
}

/** Unknown `TH_*` names (with the closest known one) and names only another platform reads. Other names are not ours. */
function nameProblems(raw: RawConfig, platform: Platform): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (!name.startsWith('TH_') || value === undefined) continue;
    const spec = settingSpec(name);
    if (!spec) {
      const guess = closestName(name);
      problems.push(guess ? `${name} is not a setting: did you mean ${guess}?` : `${name} is not a setting (the README's configuration table lists them all)`);
    } else if (!readOn(spec, platform)) {
      const where = (spec.platforms ?? []).map((p) => PLATFORM_NAMES[p]).join(' and ');
      problems.push(`${name} is read only on ${where}, not on ${PLATFORM_NAMES[platform]}; remove it here`);
    }
  }
  return problems;
}

/** The known name nearest to `name` (letter case ignored), if it is near enough to be a typo. */
export function closestName(name: string): string | undefined {
  const wanted = name.toUpperCase();
  // A typo changes a few characters, and never most of the part after `TH_`.
  const limit = Math.min(3, Math.floor((wanted.length - 3) / 2));
  let best: { name: string; distance: number } | undefined;
  for (const { name: known } of SETTINGS) {
    const distance = editDistance(wanted, known);
    if (distance <= limit && (!best || distance < best.distance)) best = { name: known, distance };
  }
  return best?.name;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

type Named<N extends string> = Extract<Setting, { name: N }>;
type NamesOf<T extends SettingSpec['type']> = Extract<Setting, { type: T }>['name'];
/** A setting with a default always has a value; one without may be undefined. */
type Maybe<N extends string, T> = Named<N> extends { default: string } ? T : T | undefined;

/**
 * Typed access to the schema's settings: each reader takes only names of its type, applies the
 * default, reports a missing required setting and a bad value, and never quotes a secret.
 */
function createReader(raw: RawConfig, problems: string[]) {
  // The types allow only names of the right kind; this guards the cast.
  const spec = <T extends SettingSpec['type']>(name: string, type: T): Extract<SettingSpec, { type: T }> => {
    const found = settingSpec(name);
    if (found?.type !== type) throw new TypeError(`${name} is not a ${type} setting in the schema`);
    return found as Extract<SettingSpec, { type: T }>;
  };
  /** The trimmed text that was set, or undefined when missing or empty. */
  const given = (name: SettingName): string | undefined => {
    const value = raw[name]?.trim();
    return value === '' ? undefined : value;
  };
  /** The text to parse: what was set, else the default; reports a missing required setting. */
  const text = (s: SettingSpec): string | undefined => {
    const value = given(s.name as SettingName) ?? s.default;
    if (value === undefined && s.required) problems.push(`${s.name} is required`);
    return value;
  };
  const got = (s: SettingSpec, value: string): string => (s.secret ? '' : ` (got "${value}")`);

  return {
    given,
    text<N extends NamesOf<'text'>>(name: N): Maybe<N, string> {
      const s = spec(name, 'text');
      const value = text(s);
      if (value !== undefined && s.pattern && !s.pattern.test(value)) problems.push(`${name} must be ${s.patternDoc ?? `like ${s.pattern}`}${got(s, value)}`);
      return value as Maybe<N, string>;
    },
    integer(name: NamesOf<'integer'>): number {
      const s = spec(name, 'integer');
      const value = text(s)!;
      if (!/^\d+$/.test(value)) {
        problems.push(`${name} must be a whole number of ${s.unit}${got(s, value)}`);
        return Number(s.default);
      }
      const n = Number(value);
      if (n < s.min || n > s.max) problems.push(`${name} must be between ${s.min} and ${s.max}${s.secret ? '' : ` (got ${n})`}`);
      return n;
    },
    boolean(name: NamesOf<'boolean'>): boolean {
      const s = spec(name, 'boolean');
      const value = text(s)!;
      const word = value.toLowerCase();
      if ((TRUE_WORDS as readonly string[]).includes(word)) return true;
      if ((FALSE_WORDS as readonly string[]).includes(word)) return false;
      problems.push(`${name} must be true or false${got(s, value)}; ${BOOLEAN_SPELLINGS} work too`);
      return s.default === 'true';
    },
    choice<N extends NamesOf<'choice'>>(name: N): Maybe<N, Named<N>['values'][number]> {
      const s = spec(name, 'choice');
      const value = text(s);
      if (value === undefined) return undefined as Maybe<N, Named<N>['values'][number]>;
      const match = s.values.find((v) => v === value.toLowerCase());
      if (match === undefined) problems.push(`${name} must be one of ${s.values.join(', ')}${got(s, value)}`);
      return (match ?? s.default) as Maybe<N, Named<N>['values'][number]>;
    },
    parsed<N extends NamesOf<'parsed'>>(name: N): Maybe<N, ReturnType<Named<N>['parse']>> {
      const s = spec(name, 'parsed');
      const value = text(s);
      return (value === undefined ? undefined : s.parse(value, name, problems)) as Maybe<N, ReturnType<Named<N>['parse']>>;
    },
  };
}

/** TH_API_ROUTE_OPTIONS applied to the routes of TH_API_ROUTES, and no route inside the agent's path. */
function applyRouteOptions(entries: readonly RouteEntry[], options: readonly RouteOptionsEntry[], agentPath: string, problems: string[]): ApiRoute[] {
  const routes: { prefix: string; upstream: string; methods?: readonly string[]; public: boolean; nosniff: boolean; introspect?: true }[] = [];
  for (const { prefix, upstream } of entries) {
    if (agentPath && (prefix === agentPath || prefix.startsWith(agentPath + '/') || agentPath.startsWith(prefix + '/'))) {
      problems.push(`TH_API_ROUTES prefix "${prefix}" overlaps TH_AGENT_PATH "${agentPath}"`);
      continue;
    }
    routes.push({ prefix, upstream, public: false, nosniff: true });
  }
  for (const option of options) {
    const route = routes.find((r) => r.prefix === option.prefix);
    if (!route) {
      problems.push(`TH_API_ROUTE_OPTIONS entry "${option.entry}" does not name a prefix from TH_API_ROUTES`);
      continue;
    }
    if (option.public) route.public = true;
    if (option.allowSniffing) route.nosniff = false;
    if (option.introspect) route.introspect = true;
    if (option.methods) route.methods = option.methods;
  }
  return routes;
}
