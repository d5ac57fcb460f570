/**
 * The 20-at-once race (contract §6.1) across two token handler processes (the Node entry, as a
 * container runs it) sharing a real redis-server, against the real oidc-provider, which rotates
 * refresh tokens and ends the whole grant when a rotated-away one comes back: 20 refreshes of one
 * session at once, spread over both processes, all answer 200, the provider sees exactly one
 * refresh, both processes hand out the same new tokens, and the session lives on through each;
 * twice in a row, each process's browser keeping the cookies it was given.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCookieHeader, readCookieValue } from '../../src/core/session/cookie-table.js';
import { countRefreshGrants } from '../helpers/refresh-grants.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { RedisServer } from '../stores/redis-server.js';
import { startServerProcess, type LogLine, type ServerProcess } from './server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AT_ONCE = 20;

let stack: TestStack;
let redis: RedisServer;
let refreshGrants: () => number;
const processes: ServerProcess[] = [];

beforeAll(async () => {
  [stack, redis] = await Promise.all([startTestStack(), RedisServer.start()]);
  refreshGrants = countRefreshGrants(stack.provider.provider);
});

afterAll(async () => {
  for (const proc of processes) proc.stop();
  await Promise.all(processes.map((proc) => proc.exited));
  await Promise.all([stack?.close(), redis?.close()]);
});

const settings = () => Object.fromEntries(Object.entries(stack.env).filter((e): e is [string, string] => e[1] !== undefined));
const overHttp = (base: string) => ({
  request: (input: string, init: RequestInit) => fetch(input.replace(PUBLIC_ORIGIN, base), { ...init, redirect: 'manual' }),
});

async function startProcess(): Promise<string> {
  const proc = startServerProcess(
    ['--import', 'tsx', 'src/adapters/node/main.ts'],
    { ...settings(), TH_SESSION_STORE: redis.url, TH_LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1' },
    ROOT,
  );
  processes.push(proc);
  return proc.url();
}

/** The access token inside a browser's access-token cookie, unsealed with the same cookie keys the processes use. */
async function accessTokenOf(client: SpaClient): Promise<string> {
  const sealed = readCookieValue(parseCookieHeader(client.cookieHeader('/api')), stack.app.agent.names.at);
  return (await stack.app.agent.sealer.unseal<{ t: string }>('at', sealed))!.data.t;
}

/** The first `count` lines from index `from` on that match, once the process has logged them (its stdout may lag its answers). */
async function logLines(proc: ServerProcess, from: number, count: number, predicate: (line: LogLine) => boolean): Promise<LogLine[]> {
  const matching = () => proc.lines.slice(from).filter(predicate);
  await proc.waitFor(() => matching().length >= count);
  return matching().slice(0, count);
}

describe('refresh coordination across two Node processes sharing Redis', () => {
  it('20 refreshes of one session at once over both: all 200, one refresh at the provider, the session lives on through each; twice in a row', async () => {
    const [one, two] = await Promise.all([startProcess(), startProcess()]);
    const first = new SpaClient(overHttp(one));
    expect((await first.login()).status).toBe(200);
    // A second tab of the same browser whose requests the load balancer sends to the other process.
    const second = new SpaClient(overHttp(two));
    for (const [name, cookie] of first.cookies) second.cookies.set(name, { ...cookie });

    for (const round of [1, 2]) {
      const before = refreshGrants();
      const logged = processes.map((proc) => proc.lines.length);
      const answers = await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => (i % 2 ? second : first).request('POST', '/oauth-agent/refresh')));
      expect(answers.map((a) => a.status), `round ${round}`).toEqual(Array(AT_ONCE).fill(200));
      expect(refreshGrants() - before, `round ${round}: refreshes the provider saw`).toBe(1);
      // Each process served its half; all but the one that called the provider took the shared result.
      const refreshEvents = await Promise.all(processes.map((proc, i) => logLines(proc, logged[i]!, AT_ONCE / 2, (l) => l.msg === 'security_event' && l['event'] === 'refresh')));
      expect(refreshEvents.flat().filter((l) => l['coordinated'] !== true).length, `round ${round}`).toBe(1);
      expect(await accessTokenOf(second), `round ${round}`).toBe(await accessTokenOf(first));
      for (const client of [first, second]) {
        expect((await client.json('GET', '/api/whoami')).status, `round ${round}`).toBe(200);
        expect((await client.json('GET', '/oauth-agent/session')).body['is_logged_in'], `round ${round}`).toBe(true);
      }
    }
    // Two processes to start (each compiles the entry with tsx) on a busy machine.
  }, 60_000);
});
