/**
 * Back-channel logout end to end inside workerd (contract §6.2): two Worker instances sharing the
 * SESSION_STORE Durable Object namespace, and the real oidc-provider (in Node, from the global
 * setup). The user signs out at the provider's own end-session page; the provider POSTs its
 * logout token to the registered `backchannel_logout_uri`, a relay in Node (delivery-relay.ts)
 * that holds the POST while this test hands it to the other Worker instance and returns the
 * Worker's answer to the provider. The session is then over on both, and a replay of the token
 * is refused on the first instance.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { logoutAtProvider } from '../../helpers/browser.js';
import { PUBLIC_ORIGIN, SpaClient } from '../../helpers/spa-client.js';
import type { RawConfig } from '../../../src/config/parse.js';
import type { RelayedAnswer, RelayedDelivery } from './delivery-relay.js';
import { startTestStack, type WorkerApp, type WorkerTestStack } from './worker-stack.js';

const ENDPOINT = `${PUBLIC_ORIGIN}/oauth-agent/backchannel-logout`;
const { factoryUrl } = inject('workers');
let stack: WorkerTestStack;
let relay: { id: string; url: string };

async function factory<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${factoryUrl}${path}`, init);
  if (!response.ok) throw new Error(`relay: ${init?.method ?? 'GET'} ${path} answered ${response.status}`);
  return (await response.json()) as T;
}

beforeAll(async () => {
  relay = await factory('/relays', { method: 'POST' });
  stack = await startTestStack({ client: { backchannel_logout_uri: relay.url } });
});
afterAll(async () => {
  await stack?.close();
});

function instances(): [WorkerApp, WorkerApp] {
  const settings = { TH_SESSION_STORE: 'durable-object', TH_BACKCHANNEL_LOGOUT: 'on', TH_REVOCATION_CACHE_TTL: '0', SESSION_STORE: env['SESSION_STORE'] } as unknown as RawConfig;
  return [stack.makeApp(settings), stack.makeApp(settings)];
}

/** Signs out at the provider, and hands its one logout-token delivery to `receiver`; the delivery and the Worker's answer. */
async function signOutAtProvider(client: SpaClient, receiver: WorkerApp): Promise<{ delivery: RelayedDelivery; status: number }> {
  const endSession = new URL('/session/end', stack.provider.issuer);
  endSession.searchParams.set('client_id', stack.config.clientId);
  endSession.searchParams.set('post_logout_redirect_uri', `${PUBLIC_ORIGIN}/`);
  // The provider answers the sign-out only once its delivery was answered: both at once.
  const signedOut = logoutAtProvider(client.browser, endSession, { postLogoutRedirectUri: `${PUBLIC_ORIGIN}/` });
  const delivery = await factory<RelayedDelivery>(`/relays/${relay.id}/next`);
  const response = await receiver.request(ENDPOINT, { method: 'POST', headers: { 'content-type': delivery.contentType }, body: delivery.body });
  const answer: RelayedAnswer = { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text() };
  await factory(`/relays/${relay.id}/answers/${delivery.n}`, { method: 'POST', body: JSON.stringify(answer) });
  await signedOut;
  return { delivery, status: response.status };
}

/** The proxied call first: the agent's logged-out answer clears the cookies. */
async function expectLoggedOut(client: SpaClient): Promise<void> {
  const api = await client.json('GET', '/api/whoami');
  expect(api.status).toBe(401);
  expect(api.body['error_code']).toBe('unauthorized_request');
  expect((await client.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
}

describe('back-channel logout (workerd, Durable Object store)', () => {
  it("ends the session on both instances when the provider's logout token reaches the other one, and refuses its replay on the first", async () => {
    const [one, two] = instances();
    const client = new SpaClient(one);
    await client.login();
    const copy = new SpaClient(two);
    for (const [name, cookie] of client.cookies) copy.cookies.set(name, { ...cookie });
    expect((await client.json('GET', '/api/whoami')).status).toBe(200);
    expect((await copy.json('GET', '/api/whoami')).status).toBe(200);

    const logsBefore = stack.logs.length;
    const { delivery, status } = await signOutAtProvider(client, two);
    expect(status).toBe(200);
    const logoutToken = new URLSearchParams(delivery.body).get('logout_token');
    expect(logoutToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    await expectLoggedOut(client);
    await expectLoggedOut(copy);

    const replay = await one.request(ENDPOINT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: logoutToken! }).toString() });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as Record<string, unknown>)['error']).toBe('invalid_request');
    const lines = stack.logs.slice(logsBefore);
    expect(lines.some((line) => line.includes('backchannel_logout_jti_replayed'))).toBe(true);
    expect(lines.filter((line) => line.includes(logoutToken!))).toEqual([]);
  });
});
