/**
 * SIGTERM on the Node process entry (src/adapters/node/main.ts, as `npm run serve` runs it): it
 * turns not-ready, stops accepting, lets a slow request in flight finish, and exits 0; a second
 * signal or the grace running out cuts what is left and exits 1. Against the real oidc-provider
 * and a hand-made upstream that answers only when the test says so (no timing assumptions).
 */
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDemoProvider, type DemoProvider } from '../../examples/provider.js';
import { randomSecret } from '../helpers/config.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** An upstream that holds every request until `release()`. */
async function startHeldUpstream() {
  const held: http.ServerResponse[] = [];
  const arrivals: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    held.push(res);
    arrivals.shift()?.();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Resolves once a request has arrived (now or earlier). */
    arrived: () => (held.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => arrivals.push(resolve))),
    release: () => {
      for (const res of held.splice(0)) res.writeHead(200, { 'content-type': 'text/plain' }).end('slow answer');
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A GET over its own connection, settled with the status and body, or the error that cut it. */
function get(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', (error) => resolve({ error: error.message }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

function connectError(url: string): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
  });
}

let provider: DemoProvider;
let upstream: Awaited<ReturnType<typeof startHeldUpstream>>;
let server: ServerProcess | undefined;

beforeAll(async () => {
  provider = await startDemoProvider({ port: 0, clients: [{ client_id: 'drain-test', client_secret: randomSecret(), token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://www.example.test/'], post_logout_redirect_uris: ['https://www.example.test/'] }] });
  upstream = await startHeldUpstream();
});

afterEach(() => {
  upstream.release();
  server?.stop();
});

afterAll(async () => {
  await upstream.close();
  await provider.close();
});

function startServer(extra: Record<string, string> = {}): ServerProcess {
  server = startServerProcess(
    ['--import', 'tsx', 'src/adapters/node/main.ts'],
    {
      PORT: '0',
      HOST: '127.0.0.1',
      TH_PUBLIC_ORIGIN: 'https://www.example.test',
      TH_ISSUER: provider.issuer,
      TH_CLIENT_ID: 'drain-test',
      TH_CLIENT_SECRET: randomSecret(),
      TH_COOKIE_KEYS: `k1:${randomSecret()}`,
      TH_API_ROUTES: `/slow=${upstream.url}`,
      // A public route: the slow call needs no login, so the test is about the drain alone.
      TH_API_ROUTE_OPTIONS: '/slow=public',
      ...extra,
    },
    ROOT,
  );
  return server;
}

describe('SIGTERM', () => {
  it('turns the listener off, lets the slow request in flight finish with 200, then exits 0', async () => {
    const proc = startServer();
    const url = await proc.url();
    expect(await get(`${url}/oauth-agent/ready`)).toEqual({ status: 200, body: '{"status":"ready"}' });

    const slow = get(`${url}/slow/report`);
    await upstream.arrived();
    proc.child.kill('SIGTERM');
    const draining = await proc.waitFor((l) => l.msg === 'shutting_down');
    expect(draining).toMatchObject({ signal: 'SIGTERM', grace_s: 20 });
    // No new connections while draining: the load balancer has taken the instance out already.
    expect(await connectError(url)).toBe('ECONNREFUSED');

    upstream.release();
    expect(await slow).toEqual({ status: 200, body: 'slow answer' });
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(proc.lines.map((l) => l.msg)).toContain('stopped');
  });

  it('cuts a request still in flight when SHUTDOWN_GRACE runs out, and exits 1', async () => {
    const proc = startServer({ SHUTDOWN_GRACE: '1' });
    const url = await proc.url();
    const slow = get(`${url}/slow/never`);
    await upstream.arrived();
    proc.child.kill('SIGTERM');
    expect(await proc.waitFor((l) => l.msg === 'shutting_down')).toMatchObject({ grace_s: 1 });

    expect(await slow).toHaveProperty('error');
    expect((await proc.exited).code).toBe(1);
    expect(proc.lines.map((l) => l.msg)).toContain('stopped_with_requests_cut');
  });

  it('exits 1 at once on a second signal', async () => {
    const proc = startServer();
    const url = await proc.url();
    const slow = get(`${url}/slow/never`);
    await upstream.arrived();
    proc.child.kill('SIGTERM');
    await proc.waitFor((l) => l.msg === 'shutting_down');
    proc.child.kill('SIGTERM');

    expect((await proc.exited).code).toBe(1);
    expect(proc.lines.map((l) => l.msg)).toContain('shutdown_forced');
    expect(await slow).toHaveProperty('error');
  });

  it('refuses to start on a bad SHUTDOWN_GRACE or PORT, naming them with the TH_* problems, all at once', async () => {
    const proc = startServer({ SHUTDOWN_GRACE: 'soon', PORT: '70000', TH_ISSUER: '' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('SHUTDOWN_GRACE must be a whole number of seconds');
    expect(exit.stderr).toContain('PORT must be a port number');
    expect(exit.stderr).toContain('TH_ISSUER is required');
    expect(proc.lines.map((l) => l.msg)).not.toContain('listening');
  });
});
