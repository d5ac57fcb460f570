/**
 * The Node adapter's fast path for API routes: IncomingMessage in, node:http to the upstream,
 * Node streams piped both ways, ServerResponse out. It skips what costs most per proxied request
 * on Node (turning the request into a Web `Request` and the answer back, Hono's routing, Web-stream
 * bodies, `Headers` copies) and nothing else: every decision comes from the functions the Hono
 * route uses (decideProxy, assertHeaderSize, corsHeaders, filterUpstreamResponseHeaders, and the
 * app's own log line and error answer). Anything unusual about a request goes to Hono instead.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import type { TokenHandlerApp } from '../../app/create-app.js';
import { assertHeaderSize, corsHeaders } from '../../app/guards.js';
import { NULL_BODY_STATUS } from '../../app/proxy-routes.js';
import { TokenHandlerError } from '../../core/errors.js';
import type { HeaderView } from '../../core/ports.js';
import { filterUpstreamResponseHeaders, type UpstreamRequest } from '../../core/proxy/headers.js';
import { matchRoute } from '../../core/proxy/routes.js';

/**
 * Node's raw header list read as the Hono route reads it through @hono/node-server: lower-case
 * names, repeated fields joined with ', ', except Cookie lines, joined with '; ' (its `get` reads
 * Node's own join there). Node's `req.headers` is not used: it drops repeats of some fields.
 */
class RawHeaderView implements HeaderView {
  private readonly fields = new Map<string, string>();
  private readonly setCookies: string[] = [];
  constructor(raw: readonly string[]) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (name === 'set-cookie') this.setCookies.push(value);
      const seen = this.fields.get(name);
      this.fields.set(name, seen === undefined ? value : `${seen}${name === 'cookie' ? '; ' : ', '}${value}`);
    }
  }
  get(name: string): string | null {
    return this.fields.get(name) ?? null;
  }
  forEach(callback: (value: string, name: string) => void): void {
    this.fields.forEach(callback);
  }
  getSetCookie(): string[] {
    return this.setCookies;
  }
}

type OutgoingHeaders = Record<string, string | string[]>;

/** A `Headers` as node:http takes it; `Set-Cookie` lines stay separate. */
function toNodeHeaders(headers: Headers): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  headers.forEach((value, name) => {
    if (name === 'set-cookie') ((out[name] ??= []) as string[]).push(value);
    else out[name] = value;
  });
  return out;
}

/**
 * Returns a listener that answers requests to API routes and returns false for everything else
 * (the agent routes, unknown paths, and any target or Host that @hono/node-server would refuse or
 * rewrite), which the caller then hands to the Hono app.
 */
export function createNodeProxy(app: TokenHandlerApp): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { config, decideProxy, requests, now } = app;
  const names = app.agent.names;
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  /** An answer the token handler writes itself (an error, a preflight), as a Web Response from the shared code. */
  async function send(res: ServerResponse, response: Response, requestId: string): Promise<void> {
    response.headers.set('x-request-id', requestId);
    const body = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, toNodeHeaders(response.headers));
    res.end(body);
  }

  return (req, res) => {
    const target = req.url ?? '';
    const host = req.headers.host;
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (config.apiRoutes.length === 0 || !path.startsWith('/') || path.includes('\\') || !host || !matchRoute(config.apiRoutes, path)) return false;
    // The path for the log line as the Hono route logs it (dot segments resolved); a Host the URL
    // parser changes or refuses is left to @hono/node-server, which answers it.
    let logPath: string;
    try {
      const url = new URL(`http://${host}${target}`);
      if (url.host !== host) return false;
      logPath = url.pathname;
    } catch {
      return false;
    }

    const started = now();
    const requestId = randomUUID();
    const method = req.method ?? 'GET';
    const headers = new RawHeaderView(req.rawHeaders);
    const cors = corsHeaders(headers.get('origin'), config);
    const done = (status: number) => requests.logged(requestId, method, logPath, status, started);
    const refuse = (error: unknown) => {
      const response = requests.rejected(error, requestId, cors);
      done(response.status);
      return send(res, response, requestId);
    };

    void (async () => {
      assertHeaderSize(headers);
      const decision = await decideProxy({ method, target, headers, clientIp: req.socket.remoteAddress });
      // A path that matched a route is never passed on; should that change, say so rather than hang.
      if (decision.kind === 'pass') throw new TokenHandlerError('not_found', 'There is no such endpoint', { reason: 'path_unknown' });
      if (decision.kind === 'preflight') {
        done(204);
        return send(res, new Response(null, { status: 204, headers: decision.headers }), requestId);
      }
      const upstream = await forward(req, res, decision.upstream);
      const status = upstream.statusCode!;
      const out = filterUpstreamResponseHeaders(new RawHeaderView(upstream.rawHeaders), names, decision.upstream.route);
      cors?.forEach((value, name) => out.set(name, value));
      out.set('x-request-id', requestId);
      done(status);
      res.writeHead(status, toNodeHeaders(out));
      if (method === 'HEAD' || NULL_BODY_STATUS.has(status)) {
        upstream.resume();
        res.end();
      } else {
        upstream.once('error', () => res.destroy());
        upstream.pipe(res);
      }
    })().catch((error: unknown) => (res.headersSent ? res.destroy() : refuse(error).catch(() => res.destroy())));
    return true;
  };

  /**
   * Sends the request upstream with its body piped through, and resolves with the upstream's
   * answer; the timeout and the 502s are those of the Hono route's forward() (app/proxy-routes.ts).
   */
  function forward(req: IncomingMessage, res: ServerResponse, upstream: UpstreamRequest): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const url = new URL(upstream.url);
      const protocol = url.protocol as 'http:' | 'https:';
      const out: Record<string, string> = {};
      upstream.headers.forEach((value, name) => (out[name] = value));
      let timedOut = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let answered = false;
      // The timeout covers the wait for the answer once the request has gone out, as on the Hono route.
      const startTimer = () => {
        if (answered) return;
        timer = setTimeout(() => {
          timedOut = true;
          call.destroy(new Error('upstream timeout'));
        }, config.upstreamTimeout);
      };
      const call = (protocol === 'https:' ? https : http).request(
        { protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: url.pathname + url.search, method: upstream.method, headers: out, agent: agents[protocol] },
        (answer) => {
          answered = true;
          clearTimeout(timer);
          const status = answer.statusCode ?? 0;
          if (status < 200 || status > 599) {
            // A status the Fetch API cannot carry (e.g. 600), refused as on the Hono route.
            answer.destroy();
            return reject(new TokenHandlerError('upstream_unavailable', 'The API answered with an invalid response', { reason: 'upstream_bad_status' }));
          }
          resolve(answer);
        },
      );
      call.on('error', (cause) => {
        answered = true;
        clearTimeout(timer);
        reject(new TokenHandlerError('upstream_unavailable', 'The API could not be reached', { cause, reason: timedOut ? 'upstream_timeout' : 'upstream_unreachable' }));
      });
      // A client that goes away takes the upstream call with it, mid-upload or mid-download.
      res.once('close', () => {
        if (!res.writableFinished) call.destroy();
      });
      if (upstream.method === 'GET' || upstream.method === 'HEAD') {
        call.end();
        startTimer();
      } else {
        req.once('error', (error) => call.destroy(error));
        req.once('end', startTimer);
        req.pipe(call);
      }
    });
  }
}
