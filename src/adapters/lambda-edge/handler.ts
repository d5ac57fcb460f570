/**
 * The Lambda@Edge entry (`index.handler` in the zip that `npm run build:edge` writes), for the
 * CloudFront **origin-request** trigger on the agent and API behaviours, and optionally the
 * **origin-response** trigger on the API behaviours.
 *
 * - Agent routes are answered by the function (a generated response, several Set-Cookie intact).
 * - Proxy routes are not fetched: the function rewrites the CloudFront request by the contract's
 *   rules (bearer token in, our cookies and hop-by-hop headers out, path rewritten, custom origin
 *   switched to the route's upstream) and hands it back; CloudFront forwards it, so request and
 *   response bodies never pass through here. Refusals (no session, CSRF) are answered here.
 * - On origin-response, the upstream's answer loses any Set-Cookie or Clear-Site-Data touching our
 *   cookies and gains CORS headers for trusted origins, as the Node and Workers proxies do.
 *
 * There are no environment variables on Lambda@Edge: the settings are bundled at build time and
 * the `kms:` secrets decrypted once per cold start. The public origin comes from the settings
 * only; the `host` header is the origin's on origin-request and nothing reads it.
 */
import type {
  CloudFrontHeaders,
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResponse,
  CloudFrontResponseEvent,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { handle } from 'hono/lambda-edge';
import { createTokenHandler, type TokenHandler } from '../../app/create-token-handler.js';
import { createEmfMetrics } from '../../app/emf-metrics.js';
import { corsHeaders } from '../../app/guards.js';
import type { WebBody } from '../../app/context.js';
import type { PreparedCall } from '../../app/proxy-pipeline.js';
import { startupFailure } from '../../app/startup-failure.js';
import { encryptedSettings, resolveEdgeConfig, type Decrypt, type EdgeSettings } from '../../config/from-bundle.js';
import type { Config } from '../../config/parse.js';
import { TokenHandlerError } from '../../core/errors.js';
import type { HeaderView, LogSink, SessionStore } from '../../core/ports.js';
import type { UnsealCacheBounds, UnsealCrypto } from '../../core/session/cookie-seal.js';
import { MemoryStore } from '../../stores/memory.js';
import { filterUpstreamResponseHeaders } from '../../core/proxy/headers.js';
import { matchRoute, routesByUpstream } from '../../core/proxy/routes.js';
import type { ApiRoute } from '../../core/types.js';
import { carryRequestHeaders, carryResponseHeaders, fromByteString, toByteString } from './event-headers.js';
// Lambda@Edge runs Node: the same synchronous node:crypto unsealing (architecture.test.ts allows this one import).
import { nodeUnsealCrypto } from '../node/unseal-crypto.js';

/** Replaced by `npm run build:edge` with the validated settings from the configuration file. */
declare const __TH_EDGE_SETTINGS__: EdgeSettings | undefined;
/** Replaced only by a test build (`--test-kms-endpoint`, loopback only); undefined in every real build. */
declare const __TH_TEST_KMS_ENDPOINT__: string | undefined;

export type EdgeEvent = CloudFrontRequestEvent | CloudFrontResponseEvent;
export type EdgeResult = CloudFrontRequest | CloudFrontResultResponse | CloudFrontResponse;
export type EdgeHandler = (event: EdgeEvent, context?: unknown) => Promise<EdgeResult>;

export interface EdgeHandlerOptions {
  readonly settings: EdgeSettings;
  /** Tests only (see `__TH_TEST_KMS_ENDPOINT__`). */
  readonly kmsEndpoint?: string | undefined;
  /** Replaces KMS entirely (for hosts that hold the secrets some other way). */
  readonly decrypt?: Decrypt;
  readonly logSink?: LogSink;
  /** Unsealing primitives (default node:crypto); `null` for Web Crypto (benchmarks compare the two). */
  readonly unsealCrypto?: UnsealCrypto | null;
  /** The sealer's cache of opened cookies, kept for the life of a warm container (default bounds); `false` for none. */
  readonly unsealCache?: UnsealCacheBounds | false;
  /** Tests only: credentials for a DynamoDB endpoint override (TH_SESSION_STORE_ENDPOINT); else the SDK's default chain (the function's role). */
  readonly storeCredentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** What hono/lambda-edge puts in `c.env`. */
export interface EdgeBindings {
  readonly request: CloudFrontRequest;
  readonly config: { readonly requestId: string };
  readonly callback: (error: Error | null, result?: CloudFrontRequest) => void;
}

/** Read-only in origin-request events: changing, adding or removing one makes CloudFront answer 502. */
const READ_ONLY_ORIGIN_REQUEST = ['accept-encoding', 'content-length', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'transfer-encoding', 'via'];
const READ_ONLY_ORIGIN_RESPONSE = ['transfer-encoding', 'via'];
/** Headers a function may never add (CloudFront answers 502). X-Forwarded-Proto is one: CloudFront sets CloudFront-Forwarded-Proto instead. */
const DISALLOWED = /^(?:connection|expect|keep-alive|proxy-authenticate|proxy-authorization|proxy-connection|trailer|upgrade|x-accel-[\w-]+|x-amz-cf-[\w-]+|x-amzn-[\w-]+|x-cache|x-edge-[\w-]+|x-forwarded-proto|x-real-ip)$/;
/** CloudFront's bounds for a custom origin's read timeout, in seconds. */
const READ_TIMEOUT_RANGE = [4, 60] as const;

interface Ready {
  readonly config: Config;
  readonly handler: TokenHandler<EdgeBindings>;
  readonly handleRequest: (event: CloudFrontRequestEvent, context?: unknown) => Promise<unknown>;
}

/**
 * The handler for one set of settings. Decryption and parsing start at once (during the cold start)
 * and are cached; if either fails, every request gets a JSON 500 and a log line, never a handler
 * that runs with half its configuration.
 */
export function createEdgeHandler(options: EdgeHandlerOptions): EdgeHandler {
  const logSink = options.logSink ?? ((line: string) => console.log(line));
  const ready = prepare(options, logSink);
  // The failure is logged once, not per request; a rejection handled here also never counts as
  // unhandled while no request waits.
  const failed = ready.then(
    () => undefined,
    (error: unknown) => {
      const failure = startupFailure(error, Date.now);
      logSink(failure.logLine);
      return failure;
    },
  );

  // Two parameters at most: the Node 24 runtime rejects callback-style (three-parameter) handlers.
  return async (event, context) => {
    const cf = event.Records[0]!.cf;
    const failure = await failed;
    if (failure) return toCloudFrontResponse(failure.response());
    const state = await ready;
    if (cf.config.eventType === 'origin-response') return filterOriginResponse(cf as CloudFrontResponseEvent['Records'][0]['cf'], state);

    const viewer = (cf as CloudFrontRequestEvent['Records'][0]['cf']).request;
    const origin = viewer.headers['origin']?.[0]?.value;
    // Refusals before the app runs: the app's own error answer and log line, with CloudFront's request id.
    const refuse = (error: TokenHandlerError) => {
      const response = state.handler.log.rejected(error, cf.config.requestId, corsHeaders(origin ?? null, state.config));
      response.headers.set('x-request-id', cf.config.requestId);
      return toCloudFrontResponse(response);
    };
    let request: CloudFrontRequest;
    try {
      // Any value a Headers can hold from here on (event-headers.ts); the event itself is left as it came.
      request = { ...viewer, headers: carryRequestHeaders(viewer.headers) };
    } catch {
      return refuse(new TokenHandlerError('invalid_request', { detail: 'A request header is malformed', reason: 'header_malformed' }));
    }
    // CloudFront cuts a body past 1 MB (40 KB on viewer triggers) and says so; an agent endpoint
    // must never act on half a form. A proxied request is not read here: CloudFront sends the
    // whole original body upstream. The app routes on the resolved path, so that is the one to check.
    if (request.body?.inputTruncated && !matchRoute(state.config.apiRoutes, new URL(request.uri, 'https://edge.invalid').pathname)) {
      return refuse(new TokenHandlerError('request_too_large', { reason: 'body_truncated' }));
    }
    const carried: CloudFrontRequestEvent = { Records: [{ cf: { ...(cf as CloudFrontRequestEvent['Records'][0]['cf']), request } }] };
    return (await state.handleRequest(carried, context)) as EdgeResult;
  };
}

async function prepare(options: EdgeHandlerOptions, logSink: LogSink): Promise<Ready> {
  let decrypt = options.decrypt;
  if (!decrypt && encryptedSettings(options.settings).length > 0) {
    // Loaded only when a secret is encrypted, so a plaintext (development) build never evaluates the SDK.
    const { createKmsDecrypter } = await import('../../config/kms-secrets.js');
    decrypt = createKmsDecrypter({ keyId: options.settings['TH_KMS_KEY_ID'], endpoint: options.kmsEndpoint });
  }
  const config = await resolveEdgeConfig(options.settings, decrypt ?? (() => Promise.reject(new Error('no decrypter'))));
  const sessionStore = await openEdgeStore(config, options);
  const handler = createTokenHandler<EdgeBindings>(config, {
    logSink,
    ...(config.cloudwatchMetrics ? { metrics: createEmfMetrics(logSink, Date.now) } : {}),
    // Without DynamoDB, refreshes are coordinated within this function instance only (README: "Scaling out").
    ...(sessionStore ? { sessionStore } : { localStore: new MemoryStore() }),
    // CloudFront's own request id, so our log lines and its logs can be joined.
    requestId: (env) => env.config.requestId,
    clientIp: (env) => env.request.clientIp,
    // The target as CloudFront received it, before URL parsing resolves `..` and hides a traversal.
    requestTarget: (env) => (env.request.querystring ? `${env.request.uri}?${env.request.querystring}` : env.request.uri),
    handOff: (prepared, env) => handToCloudFront(prepared, env, config),
    ...(options.unsealCrypto === null ? {} : { unsealCrypto: options.unsealCrypto ?? nodeUnsealCrypto }),
    ...(options.unsealCache !== undefined ? { unsealCache: options.unsealCache } : {}),
  });
  return { config, handler, handleRequest: handle(handler.app) as Ready['handleRequest'] };
}

/**
 * The DynamoDB store, imported directly (never through stores/select.ts, which could pull in the
 * Redis client), and only when TH_SESSION_STORE names one. The function runs in the region nearest
 * the viewer (AWS_REGION): the table's replica there is used when the setting lists it.
 */
async function openEdgeStore(config: Config, options: EdgeHandlerOptions): Promise<SessionStore | undefined> {
  const setting = config.sessionStore;
  if (setting?.kind !== 'dynamodb') return undefined;
  const { DynamoDbStore } = await import('../../stores/dynamodb.js');
  const here = process.env['AWS_REGION'];
  const region = here && setting.regions.includes(here) ? here : setting.regions[0]!;
  return new DynamoDbStore({
    table: setting.table,
    region,
    ...(setting.endpoint ? { endpoint: setting.endpoint } : {}),
    ...(options.storeCredentials ? { credentials: options.storeCredentials } : {}),
  });
}

/**
 * The proxy's "forward" on Lambda@Edge: the CloudFront request becomes the upstream request and
 * goes back to CloudFront through the callback (hono ≥ 4.12.29 returns it as the result).
 */
function handToCloudFront(prepared: PreparedCall<WebBody>, env: EdgeBindings, config: Config): Response {
  const upstream = prepared.call;
  const request = env.request;
  const target = new URL(upstream.url);
  const existing = request.origin?.custom;
  // Custom headers configured on the behaviour's origin (a shared secret, say) belong to that
  // origin: they go along only when the route's upstream is that same host.
  const customHeaders: CloudFrontHeaders = existing && existing.domainName === target.hostname ? existing.customHeaders : {};
  const readTimeout = Math.min(READ_TIMEOUT_RANGE[1], Math.max(READ_TIMEOUT_RANGE[0], Math.round(config.upstreamTimeout / 1000)));

  request.headers = toCloudFrontHeaders(upstream.headers, request.headers, target.host, customHeaders);
  request.uri = target.pathname;
  request.querystring = target.search.slice(1);
  request.origin = {
    custom: {
      domainName: target.hostname,
      port: target.port ? Number(target.port) : target.protocol === 'https:' ? 443 : 80,
      protocol: target.protocol === 'https:' ? 'https' : 'http',
      // The whole upstream path is in `uri`.
      path: '',
      readTimeout,
      keepaliveTimeout: existing?.keepaliveTimeout ?? 5,
      sslProtocols: existing?.sslProtocols ?? ['TLSv1.2'],
      customHeaders,
    },
  };
  env.callback(null, request);
  // Hono still wants a Response; the adapter returns the request given to the callback instead.
  // The log line says `request_forwarded`: the upstream's status is in CloudFront's own logs.
  return new Response(null, { status: 200 });
}

/**
 * The upstream request's headers in CloudFront's shape, values as the viewer sent them again
 * (fromByteString). Read-only headers keep exactly their original entries (present or absent),
 * headers CloudFront forbids are never added, `host` names the new origin, and nothing repeats a
 * name from the origin's custom headers.
 */
function toCloudFrontHeaders(headers: HeaderView, original: CloudFrontHeaders, host: string, customHeaders: CloudFrontHeaders): CloudFrontHeaders {
  const result: CloudFrontHeaders = {};
  headers.forEach((value, name) => {
    if (READ_ONLY_ORIGIN_REQUEST.includes(name) || DISALLOWED.test(name) || name in customHeaders) return;
    result[name] = [{ key: original[name]?.[0]?.key ?? name, value: fromByteString(value) }];
  });
  for (const name of READ_ONLY_ORIGIN_REQUEST) {
    const entries = original[name];
    if (entries) result[name] = entries.map((entry) => ({ ...entry, value: fromByteString(entry.value) }));
  }
  result['host'] = [{ key: 'Host', value: host }];
  return result;
}

/** Contract §2 step 5 and §4 on the upstream's answer, edited in place (read-only headers untouched). */
function filterOriginResponse(cf: CloudFrontResponseEvent['Records'][0]['cf'], state: Ready): CloudFrontResponse {
  const response = cf.response;
  const incoming = carryResponseHeaders(response.headers, READ_ONLY_ORIGIN_RESPONSE);
  const kept = filterUpstreamResponseHeaders(incoming, state.handler.agent.names, answeredRoute(state.config.apiRoutes, cf.request));
  const keptCookies = new Set(kept.getSetCookie());
  const headers: CloudFrontHeaders = {};
  for (const [name, entries] of Object.entries(response.headers)) {
    if (name === 'set-cookie') {
      const cookies = entries.filter(({ value }) => keptCookies.has(toByteString(value)));
      if (cookies.length > 0) headers[name] = cookies;
    } else if (READ_ONLY_ORIGIN_RESPONSE.includes(name) || kept.has(name)) {
      headers[name] = entries;
    }
  }
  const nosniff = kept.get('x-content-type-options');
  if (nosniff) headers['x-content-type-options'] = [{ key: 'X-Content-Type-Options', value: nosniff }];
  corsHeaders(cf.request.headers['origin']?.[0]?.value ?? null, state.config)?.forEach((value, name) => {
    headers[name] = [{ key: name, value }];
  });
  response.headers = headers;
  return response;
}

/**
 * The options of the route an origin-response answers. Its request may show the upstream and path
 * as forwarded or the viewer's path; every route found either way could be the one, so
 * `allow-sniffing` holds only when all of them have it (none found: nosniff).
 */
function answeredRoute(routes: readonly ApiRoute[], request: CloudFrontRequest): Pick<ApiRoute, 'nosniff'> | undefined {
  const custom = request.origin?.custom;
  const candidates = [matchRoute(routes, request.uri)?.route, ...(custom ? routesByUpstream(routes, `${custom.protocol}://${custom.domainName}:${custom.port}${request.uri}`) : [])];
  const found = candidates.filter((route) => route !== undefined);
  return found.length > 0 && found.every((route) => !route.nosniff) ? { nosniff: false } : undefined;
}

/** A Response the function writes itself (errors before the app runs), in CloudFront's shape. */
async function toCloudFrontResponse(response: Response): Promise<CloudFrontResultResponse> {
  const headers: CloudFrontHeaders = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = [{ key: name, value }];
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies.map((value) => ({ key: 'set-cookie', value }));
  return { status: String(response.status), headers, body: await response.text() };
}

const bundled = typeof __TH_EDGE_SETTINGS__ === 'undefined' ? undefined : __TH_EDGE_SETTINGS__;
const testKmsEndpoint = typeof __TH_TEST_KMS_ENDPOINT__ === 'undefined' ? undefined : __TH_TEST_KMS_ENDPOINT__;
// Created while the module loads, so the KMS call overlaps the rest of the cold start.
const bundledHandler = bundled ? createEdgeHandler({ settings: bundled, kmsEndpoint: testKmsEndpoint }) : undefined;

/** The Lambda entry point. */
export async function handler(event: EdgeEvent, context?: unknown): Promise<EdgeResult> {
  if (!bundledHandler) throw new Error('This module holds no settings: build it with npm run build:edge -- --config <file.json>');
  return bundledHandler(event, context);
}
