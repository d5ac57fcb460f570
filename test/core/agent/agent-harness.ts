/**
 * The agent's operations without HTTP, against the real oidc-provider (examples/provider.ts, started
 * by test/helpers/stack.ts): an agent made with `createAgent` and a clock the test moves, and a
 * browser that keeps what each operation sets and sends back what the browser would for a path.
 */
import { createAgent, type Agent } from '../../../src/core/agent/agent.js';
import type { Cookies } from '../../../src/core/agent/context.js';
import { parseConfig, type Config, type RawConfig } from '../../../src/config/parse.js';
import type { SetCookie } from '../../../src/core/session/cookie-table.js';
import { TestBrowser, loginAtProvider } from '../../helpers/browser.js';
import { PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';

export interface AgentUnderTest {
  readonly agent: Agent;
  readonly config: Config;
  readonly clock: { now: number };
  /** Every URL the agent fetched at the provider. */
  readonly calls: string[];
}

export function makeAgent(stack: TestStack, overrides: RawConfig = {}): AgentUnderTest {
  const clock = { now: Date.now() };
  const calls: string[] = [];
  const config = parseConfig({ ...stack.env, ...overrides });
  const agent = createAgent(config, {
    now: () => clock.now,
    fetch: (input, init) => {
      calls.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    },
  });
  return { agent, config, clock, calls };
}

/** The SPA's browser as far as the agent sees it: the token handler's cookies, by path. */
export class AgentBrowser {
  readonly cookies = new Map<string, { value: string; path: string }>();
  readonly provider = new TestBrowser();

  /** The cookies a request to `path` carries. */
  for(path: string): Cookies {
    const sent: Cookies = new Map();
    for (const [name, c] of this.cookies) if (path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : c.path + '/')) sent.set(name, [c.value]);
    return sent;
  }

  apply(set: readonly SetCookie[]): void {
    for (const c of set) {
      if (c.maxAge > 0) this.cookies.set(c.name, { value: c.value, path: c.path });
      else this.cookies.delete(c.name);
    }
  }

  /** Runs an operation with this browser's cookies for `path` and keeps what it sets. */
  async run<T extends { cookies: readonly SetCookie[] }>(path: string, operation: (cookies: Cookies) => Promise<T>): Promise<T> {
    const result = await operation(this.for(path));
    this.apply(result.cookies);
    return result;
  }

  /** startLogin, then the provider's forms: the callback's parameters. */
  async authorize(agent: Agent): Promise<Record<string, string>> {
    const start = await this.run('/oauth-agent/login/start', (c) => agent.startLogin({}, c));
    const callback = await loginAtProvider(this.provider, start.body.authorization_url, { username: 'demo', password: 'demo', redirectUri: `${PUBLIC_ORIGIN}/` });
    return Object.fromEntries(callback.searchParams);
  }

  /** The whole login; the endLogin result. */
  async login(agent: Agent) {
    const params = await this.authorize(agent);
    return this.run('/oauth-agent/login/end', (c) => agent.endLogin(params, c));
  }
}

/** The error an operation threw, for assertions on code, reason and cookies. */
export async function thrown(promise: Promise<unknown>): Promise<{ code: string; wireCode: string; reason: string; status: number; setCookies: readonly SetCookie[] }> {
  try {
    await promise;
  } catch (error) {
    return error as never;
  }
  throw new Error('the operation did not throw');
}

export { startTestStack, type TestStack };
