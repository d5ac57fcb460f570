/**
 * The Node adapter: the token handler with Node's specifics, and the HTTP server that serves it.
 * The process entry (environment, signals, drain) is `main.ts`.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RequestError, getRequestListener, type HttpBindings } from '@hono/node-server';
import { createTokenHandler, instrumentTransport, type TokenHandler, type TokenHandlerDeps } from '../../app/create-token-handler.js';
import { errorResponse } from '../../app/responses.js';
import type { Config } from '../../config/parse.js';
import { TokenHandlerError } from '../../core/errors.js';
import { openSessionStore } from '../../stores/select.js';
import { createNodeFastPath } from './fast-path.js';
import { createNodeHttpTransport, webBodies } from './http-transport.js';
import { stdoutLogSink } from './log-sink.js';
import { createUndiciTransport } from './undici-transport.js';
import { nodeUnsealCrypto } from './unseal-crypto.js';

export interface NodeTokenHandler extends TokenHandler<HttpBindings> {
  /** The whole token handler as a node:http listener: API routes on the fast path, the rest through Hono. */
  readonly listener: RequestListener;
  /** The fast path alone: answers the proxy's requests and returns false for the rest. */
  readonly fastPath: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Closes the session store it opened and the undici pools (their connections); call it once the server has drained. */
  close(): Promise<void>;
}

export interface NodeTokenHandlerOptions {
  /**
   * The client for API calls: undici's Pool, one per route origin (the default: it keeps every rule
   * of the node:http client and costs less than half its CPU per call, `npm run bench:changes`), or
   * node:http with its keep-alive agents.
   */
  readonly upstreamClient?: 'node-http' | 'undici';
}

/** The token handler with Node's specifics: undici (or node:http) for API calls, node:crypto for unsealing, the raw request target. */
export function createNodeTokenHandler(config: Config, deps: Partial<TokenHandlerDeps<HttpBindings>> = {}, options: NodeTokenHandlerOptions = {}): NodeTokenHandler {
  const undici = options.upstreamClient !== 'node-http' ? createUndiciTransport(config.apiRoutes.map((route) => route.upstream), { connectTimeout: config.upstreamTimeout }) : undefined;
  const transport = undici ?? createNodeHttpTransport();
  // TH_SESSION_STORE (memory by default), unless the caller brings its own (and closes it itself).
  const opened = deps.sessionStore || !config.sessionStore ? undefined : openSessionStore(config.sessionStore, { ...(process.env['AWS_REGION'] ? { awsRegion: process.env['AWS_REGION'] } : {}) });
  const handler = createTokenHandler<HttpBindings>(config, {
    // The one upstream client, for the Hono route too (when the app is mounted by `fetch`).
    transport: webBodies(transport),
    // Synchronous node:crypto for unsealing: Web Crypto's thread-pool round trips cost more than the work.
    unsealCrypto: nodeUnsealCrypto,
    // The introspection cache's key on every phantom-token call: node:crypto is ~20 times cheaper than Web Crypto here.
    tokenDigest: (token) => createHash('sha256').update(token).digest('base64url'),
    clientIp: (env) => env?.incoming?.socket?.remoteAddress ?? undefined,
    // The target before URL parsing resolved its dot segments, so the proxy sees a traversal attempt as sent.
    requestTarget: (env) => env?.incoming?.url,
    // Lines gathered per event-loop turn, warn/error/audit at once (log-sink.ts); a caller's own sink wins.
    logSink: deps.logSink ?? stdoutLogSink().sink,
    ...(opened ? { sessionStore: opened } : {}),
    ...deps,
  });
  const fast = createNodeFastPath(handler, instrumentTransport(transport, { ...deps, now: handler.now }));
  const hono = nodeFetchListener(handler.fetch);
  return {
    ...handler,
    fastPath: fast,
    close: async () => {
      await opened?.close();
      await undici?.close();
    },
    listener: (req, res) => {
      if (!fast(req, res)) hono(req, res);
    },
  };
}

type FetchHandler = (request: Request, env: HttpBindings) => Response | Promise<Response>;

/**
 * A node:http listener for a fetch handler, through @hono/node-server, that refuses absolute-form
 * request targets (`GET http://other/ HTTP/1.1`) and targets it cannot turn into a URL with the
 * contract's JSON error instead of an empty 400.
 */
export function nodeFetchListener(fetchHandler: FetchHandler): (req: IncomingMessage, res: ServerResponse) => void {
  const listener = getRequestListener(
    (request, bindings) => {
      // The server is node:http (never http2), so the bindings are HttpBindings.
      const env = bindings as HttpBindings;
      const target = env.incoming.url ?? '/';
      if (!target.startsWith('/')) {
        return errorResponse(new TokenHandlerError('invalid_request', { detail: 'The request target must be a path', reason: 'absolute_form_target' }));
      }
      return fetchHandler(request, env);
    },
    {
      errorHandler: (error) =>
        error instanceof RequestError
          ? errorResponse(new TokenHandlerError('invalid_request', { detail: 'The request target is not valid', reason: 'bad_request_target' }))
          : errorResponse(new TokenHandlerError('server_error', { reason: 'unexpected_error' })),
    },
  );
  return (req, res) => void listener(req, res);
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  /** Stops accepting and lets requests in flight finish; after `graceMs` closes what is left. True if nothing was cut short. */
  drain(graceMs: number): Promise<boolean>;
}

export function startNodeServer(listener: RequestListener, options: { port: number; hostname: string }): Promise<RunningServer> {
  // Node's default 16 KB header limit would answer a large (chunked) session with a bare 431 before
  // the app sees it; the app enforces its own limits (48 KB of headers, 32 KB of Cookie) with JSON errors.
  const server = createServer({ maxHeaderSize: 64 * 1024 }, listener);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname, () => {
      server.off('error', reject);
      const info = server.address() as AddressInfo;
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
        drain: (graceMs) =>
          new Promise<boolean>((done) => {
            let cut = false;
            // A keep-alive connection goes idle once its response is out; close it then, not at its timeout.
            const sweep = setInterval(() => server.closeIdleConnections(), 100).unref();
            const deadline = setTimeout(() => {
              cut = true;
              server.closeAllConnections();
            }, graceMs).unref();
            server.close(() => {
              clearInterval(sweep);
              clearTimeout(deadline);
              done(!cut);
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
