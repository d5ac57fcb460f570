/**
 * The Node server: the app with Node's specifics, and listening. The process entry (environment,
 * signals) is `main.ts`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RequestError, getRequestListener, type HttpBindings } from '@hono/node-server';
import { createApp, type AppDeps, type TokenHandlerApp } from '../../app/create-app.js';
import { createNodeProxy } from './fast-path.js';
import { nodeUnsealCrypto } from './unseal-crypto.js';
import { createNodeUpstreamFetch } from './http-transport.js';
import { errorResponse } from '../../app/responses.js';
import type { Config } from '../../config/parse.js';
import { TokenHandlerError } from '../../core/errors.js';

/** The app with Node's specifics: the caller's address, the raw request target, and node:http for API calls. */
export function createNodeApp(config: Config, deps: Partial<AppDeps> = {}): TokenHandlerApp {
  return createApp(config, {
    // API calls go through node:http: several times cheaper than fetch, and bodies pass undecoded.
    upstreamFetch: createNodeUpstreamFetch(),
    upstreamBodyDecoded: false,
    // Synchronous node:crypto for unsealing: Web Crypto's thread-pool round trips cost more than the work.
    unsealCrypto: nodeUnsealCrypto,
    clientIp: (c) => ((c.env as HttpBindings | undefined)?.incoming?.socket?.remoteAddress ?? undefined),
    // The target before URL parsing resolved its dot segments, so the proxy sees a traversal attempt as sent.
    requestTarget: (c) => (c.env as HttpBindings | undefined)?.incoming?.url,
    ...deps,
  });
}

/** The Hono app's fetch handler, and where the app is the token handler, its fast path for API routes. */
export type NodeHandler = ((request: Request, env: HttpBindings) => Response | Promise<Response>) & {
  readonly nodeProxy?: (req: IncomingMessage, res: ServerResponse) => boolean;
};

/** A fetch handler that refuses absolute-form request targets (`GET http://other/ HTTP/1.1`) before routing. */
export function nodeFetchHandler(app: { fetch: (request: Request, env: HttpBindings) => Response | Promise<Response> }): NodeHandler {
  const handler = (request: Request, env: HttpBindings): Response | Promise<Response> => {
    const target = (env.incoming as IncomingMessage).url ?? '/';
    if (!target.startsWith('/')) {
      return errorResponse(new TokenHandlerError('invalid_request', 'The request target must be a path', { reason: 'absolute_form_target' }));
    }
    return app.fetch(request, env);
  };
  // API routes skip the Web Request/Response round trip (adapters/node/fast-path.ts), with the same rules.
  return 'decideProxy' in app ? Object.assign(handler, { nodeProxy: createNodeProxy(app as TokenHandlerApp) }) : handler;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  /** Stops accepting and lets requests in flight finish; after `graceMs` closes what is left. True if nothing was cut short. */
  drain(graceMs: number): Promise<boolean>;
}

export function startNodeServer(
  handler: NodeHandler,
  options: { port: number; hostname: string },
): Promise<RunningServer> {
  const listener = getRequestListener(handler as never, {
    // A target the adapter cannot turn into a URL (a backslash in the path, a bad Host) gets the
    // contract's JSON error instead of @hono/node-server's empty 400.
    errorHandler: (error) =>
      error instanceof RequestError
        ? errorResponse(new TokenHandlerError('invalid_request', 'The request target is not valid', { reason: 'bad_request_target' }))
        : errorResponse(new TokenHandlerError('server_error', 'The token handler failed unexpectedly')),
  });
  // Node's default 16 KB header limit would answer a large (chunked) session with a bare 431 before
  // the app sees it; the app enforces its own limits (48 KB of headers, 32 KB of Cookie) with JSON errors.
  const fast = handler.nodeProxy;
  const server = createServer({ maxHeaderSize: 64 * 1024 }, fast ? (req, res) => fast(req, res) || void listener(req, res) : listener);
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
