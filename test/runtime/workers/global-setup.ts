/**
 * Node side of the workerd test project (a vitest globalSetup, so it runs in Node, not workerd).
 *
 * oidc-provider and the example API need Node (node:http, node:crypto, Koa), so they cannot run
 * inside workerd. This setup starts a small "stack factory" on loopback: each workerd test file
 * asks it for its own stack (`POST /stacks`), and the factory runs the very same `startTestStack`
 * the Node tests use (the real provider and API on fresh ports, a fresh client secret and cookie
 * keys), then answers with the settings for the Worker. What reached the example API is read back
 * over `GET /stacks/<id>/requests`, and how many refresh grants its provider saw (answered or
 * refused) over `GET /stacks/<id>/refresh-grants`. It also starts one stack for the Worker's own bindings, so the
 * deployed entry (wrangler.toml + bindings, reached through SELF) is tested as configured.
 */
import type { TestProject } from 'vitest/node';
import { nodeFetchListener, startNodeServer } from '../../../src/adapters/node/server.js';
import { countRefreshGrants } from '../../helpers/refresh-grants.js';
import { startTestStack, type StackOptions, type TestStack } from '../../helpers/stack.js';
import { startCompressingUpstream } from './compressing-upstream.js';
import { createDeliveryRelays } from './delivery-relay.js';

export interface StackHandle {
  readonly id: string;
  readonly issuer: string;
  readonly apiUrl: string;
  readonly clientSecret: string;
  readonly cookieKeys: string;
  /** The TH_* settings, as the Node stack's app was built from them. */
  readonly env: Record<string, string>;
}

export interface WorkersTestContext {
  /** The stack factory's base URL. */
  readonly factoryUrl: string;
  /** The stack behind the Worker's bindings (SELF). */
  readonly bound: StackHandle;
  /** An upstream that answers gzip-encoded bodies (GET /gzip). */
  readonly compressingUpstream: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    workers: WorkersTestContext;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stacks = new Map<string, TestStack>();
  const refreshGrants = new Map<string, () => number>();
  let next = 0;

  const open = async (options: Pick<StackOptions, 'env' | 'accessTokenTtl' | 'requirePar' | 'userinfoTokens' | 'client' | 'dpop' | 'opaqueAccessTokens'>): Promise<StackHandle> => {
    const stack = await startTestStack(options);
    const id = String(++next);
    stacks.set(id, stack);
    refreshGrants.set(id, countRefreshGrants(stack.provider.provider));
    const env = Object.fromEntries(Object.entries(stack.env).filter((e): e is [string, string] => e[1] !== undefined));
    return { id, issuer: stack.provider.issuer, apiUrl: stack.api.url, clientSecret: stack.clientSecret, cookieKeys: stack.cookieKeys, env };
  };

  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  // The provider's back-channel logout deliveries, relayed to the Worker by the test (delivery-relay.ts).
  const relays = createDeliveryRelays(() => factory.url);
  const factory = await startNodeServer(
    nodeFetchListener(async (request) => {
      const url = new URL(request.url);
      const [, collection, id, what] = url.pathname.split('/');
      if (collection === 'relays') return relays(request, url.pathname.split('/').slice(2));
      if (collection !== 'stacks') return json(404, { error: 'not found' });
      if (request.method === 'POST' && id === undefined) return json(200, await open((await request.json()) as StackOptions));
      const stack = id === undefined ? undefined : stacks.get(id);
      if (!stack) return json(404, { error: 'no such stack' });
      if (request.method === 'GET' && what === 'requests') {
        return json(200, stack.upstreamRequests.slice(Number(url.searchParams.get('from') ?? 0)));
      }
      if (request.method === 'GET' && what === 'refresh-grants') return json(200, { count: refreshGrants.get(id!)!() });
      if (request.method === 'DELETE' && what === undefined) {
        stacks.delete(id!);
        refreshGrants.delete(id!);
        await stack.close();
        return json(200, {});
      }
      return json(405, { error: 'method not allowed' });
    }),
    { port: 0, hostname: '127.0.0.1' },
  );

  const bound = await open({});
  const compressing = await startCompressingUpstream();
  project.provide('workers', { factoryUrl: factory.url, bound, compressingUpstream: compressing.url });

  return async () => {
    await factory.close();
    await compressing.close();
    await Promise.all([...stacks.values()].map((stack) => stack.close()));
  };
}
