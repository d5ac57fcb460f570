/**
 * Logout revokes the session inside workerd (contract §6.3): two Worker instances sharing the
 * SESSION_STORE Durable Object namespace; a copy of the cookies on the other instance is refused
 * once the session logged out. Without the binding, TH_SESSION_STORE=durable-object does not start.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaClient } from '../../helpers/spa-client.js';
import type { RawConfig } from '../../../src/config/parse.js';
import { startTestStack, type WorkerTestStack } from './worker-stack.js';

let stack: WorkerTestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('logout revokes the session (workerd, Durable Object store)', () => {
  it('refuses a copy of the cookies on another instance', async () => {
    const settings = { TH_SESSION_STORE: 'durable-object', TH_REVOCATION_CACHE_TTL: '0', SESSION_STORE: env['SESSION_STORE'] } as unknown as RawConfig;
    const [one, two] = [stack.makeApp(settings), stack.makeApp(settings)];
    const client = new SpaClient(one);
    await client.login();
    const copy = new SpaClient(two);
    for (const [name, cookie] of client.cookies) copy.cookies.set(name, { ...cookie });
    expect((await copy.json('GET', '/api/whoami')).status).toBe(200);
    expect((await client.json('POST', '/oauth-agent/logout')).status).toBe(200);

    const api = await copy.json('GET', '/api/whoami');
    expect(api.status).toBe(401);
    expect(api.body['error_code']).toBe('unauthorized_request');
    expect((await copy.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
  });

  it('does not start with TH_SESSION_STORE=durable-object but no SESSION_STORE binding', () => {
    expect(() => stack.makeApp({ TH_SESSION_STORE: 'durable-object' })).toThrow(/SESSION_STORE Durable Object binding/);
  });
});
