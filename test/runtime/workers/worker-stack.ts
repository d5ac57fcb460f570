/**
 * `startTestStack` for the workerd project: the same interface as test/helpers/stack.ts, so the
 * integration suites (test/app/flow.test.ts, test/app/agent-checks.test.ts) run unchanged inside
 * workerd. vitest.config.ts points their `../helpers/stack.js` import here in that project.
 *
 * What differs, and why:
 * - The provider and the example API run in Node (they need node:http and Koa), started per test
 *   file by the global setup's stack factory and reached over loopback with workerd's fetch.
 * - The token handler is the Worker: `createWorker()` from the Workers entry, fed the stack's
 *   settings as bindings, running in this isolate. Its log lines are captured here as in Node.
 * - What reached the API is read back from the factory after every request, since the API's
 *   memory is in another process; so is how many refresh grants the provider saw (workerd only).
 */
import { inject } from 'vitest';
import type { ApiRequestInfo } from '../../../examples/api.js';
import { createWorker, type WorkerBindings } from '../../../src/adapters/workers/worker.js';
import type { TokenHandler, TokenHandlerDeps } from '../../../src/app/create-token-handler.js';
import { parseConfig, type Config, type RawConfig } from '../../../src/config/parse.js';
import type { StackOptions } from '../../helpers/stack.js';
import type { StackHandle } from './global-setup.js';

export { PUBLIC_ORIGIN, SpaClient, type RecordedResponse } from '../../helpers/spa-client.js';
export const CLIENT_ID = 'th-test-client';

/** The Worker seen as an app: `request` like Hono's, and its agent (cookie names, sealer). */
export interface WorkerApp {
  readonly agent: TokenHandler['agent'];
  request(input: string, init?: RequestInit): Promise<Response>;
}

export interface WorkerTestStack {
  readonly provider: { readonly issuer: string };
  readonly api: { readonly url: string };
  readonly config: Config;
  readonly env: RawConfig;
  readonly app: WorkerApp;
  readonly clientSecret: string;
  readonly cookieKeys: string;
  readonly logs: string[];
  readonly upstreamRequests: ApiRequestInfo[];
  makeApp(overrides?: RawConfig, deps?: Partial<TokenHandlerDeps<WorkerBindings>>): WorkerApp;
  /** The refresh_token grants the provider has handled so far, answered or refused (it runs in Node). */
  refreshGrants(): Promise<number>;
  close(): Promise<void>;
}

export async function startTestStack(options: StackOptions = {}): Promise<WorkerTestStack> {
  // Functions cannot travel to the Node side; give per-app dependencies to makeApp instead.
  if (options.deps) throw new Error('In workerd, pass deps to makeApp, not startTestStack');
  const { factoryUrl } = inject('workers');
  const handle = await factoryCall<StackHandle>(`${factoryUrl}/stacks`, { method: 'POST', body: JSON.stringify(options) });
  const logs: string[] = [];
  const upstreamRequests: ApiRequestInfo[] = [];
  const syncUpstream = async () => {
    upstreamRequests.push(...(await factoryCall<ApiRequestInfo[]>(`${factoryUrl}/stacks/${handle.id}/requests?from=${upstreamRequests.length}`)));
  };

  const makeApp = (overrides: RawConfig = {}, deps: Partial<TokenHandlerDeps<WorkerBindings>> = {}): WorkerApp => {
    const bindings: WorkerBindings = { ...handle.env, ...overrides };
    const worker = createWorker({ logSink: (line) => logs.push(line), ...deps });
    return {
      agent: worker.load(bindings).agent,
      async request(input, init) {
        const response = await worker.fetch(new Request(input, init), bindings);
        await syncUpstream();
        return response;
      },
    };
  };

  return {
    provider: { issuer: handle.issuer },
    api: { url: handle.apiUrl },
    config: parseConfig(handle.env),
    env: handle.env,
    app: makeApp(),
    clientSecret: handle.clientSecret,
    cookieKeys: handle.cookieKeys,
    logs,
    upstreamRequests,
    makeApp,
    refreshGrants: async () => (await factoryCall<{ count: number }>(`${factoryUrl}/stacks/${handle.id}/refresh-grants`)).count,
    close: async () => {
      await factoryCall(`${factoryUrl}/stacks/${handle.id}`, { method: 'DELETE' });
    },
  };
}

async function factoryCall<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`stack factory: ${init?.method ?? 'GET'} ${new URL(url).pathname} answered ${response.status}`);
  return (await response.json()) as T;
}
