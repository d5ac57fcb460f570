/**
 * What the `npm start` stack's suites share: random ports, the SPA's POST headers, a browser's
 * fetch and login through the stack, and a page of the SPA's script run against a fetch.
 */
import { createServer } from 'node:net';
import { runInNewContext } from 'node:vm';
import { expect } from 'vitest';
import { DEMO_CREDENTIALS, type Stack } from '../../examples/start.js';
import { callbackParams } from '../../examples/spa/token-handler-client.js';
import { TestBrowser, loginAtProvider } from '../helpers/browser.js';

export const RANDOM_PORTS = { spa: 0, provider: 0, api: 0 };
export const EXPECTED_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** What a browser adds to a same-origin POST from the SPA. */
export function spaPostHeaders(stack: Stack): Record<string, string> {
  return { 'token-handler-version': '1', origin: stack.urls.origin, 'sec-fetch-site': 'same-origin' };
}

export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A fetch for the SPA's client that goes through the test browser's cookie jar. */
export function browserFetch(browser: TestBrowser, stack: Stack): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    const headers: Record<string, string> = { ...(init?.headers as Record<string, string> | undefined), 'sec-fetch-site': 'same-origin' };
    if (method !== 'GET' && method !== 'HEAD') headers['origin'] = stack.urls.origin;
    return browser.fetch(method, new URL(String(input), stack.urls.origin).href, init?.body as string | undefined, headers);
  }) as typeof fetch;
}

export async function logIn(browser: TestBrowser, stack: Stack): Promise<Response> {
  const start = await browser.fetch('POST', `${stack.urls.agent}/login/start`, '', spaPostHeaders(stack));
  expect(start.status).toBe(200);
  const { authorization_url } = (await start.json()) as { authorization_url: string };
  const callback = await loginAtProvider(browser, authorization_url, { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });
  const fields = callbackParams(callback.searchParams);
  expect(fields).toBeDefined();
  return browser.fetch('POST', `${stack.urls.agent}/login/end`, new URLSearchParams(fields).toString(), spaPostHeaders(stack));
}

export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function openPage(script: string, html: string, url: string, pageFetch: typeof fetch) {
  const elements = new Map<string, FakeElement>();
  for (const [, id] of html.matchAll(/\sid="([^"]+)"/g)) elements.set(id!, new FakeElement(id!));
  const page = {
    assigned: [] as string[],
    replacedWith: [] as string[],
    location: {
      href: url,
      assign: (target: string) => void page.assigned.push(String(target)),
    },
    element(id: string): FakeElement {
      const element = elements.get(id);
      if (!element) throw new Error(`no #${id}`);
      return element;
    },
    text(id: string): string {
      return page.element(id).text();
    },
    click(id: string): void {
      page.assigned.length = 0;
      page.element(id).click();
    },
    enabledButtons(): string[] {
      return ['login', 'call-api', 'refresh', 'logout'].filter((id) => !page.element(id).disabled);
    },
    /** The log panel, newest first: "METHOD /path → status". */
    logLines(): string[] {
      return page.element('log').children.map((item) => item.children[0]!.text());
    },
  };
  const document = {
    body: new FakeElement('body'),
    getElementById: (id: string) => elements.get(id) ?? null,
    createElement: () => new FakeElement(''),
  };
  const history = {
    state: null,
    replaceState: (_state: unknown, _title: string, target: string) => {
      page.replacedWith.push(target);
      page.location.href = new URL(target, page.location.href).href;
    },
  };
  // Window-level listeners (pageshow) never fire: this fake page is never restored from a cache.
  const addEventListener = () => {};
  runInNewContext(script, { document, location: page.location, history, fetch: pageFetch, URL, URLSearchParams, console, addEventListener });
  return page;
}

export class FakeElement {
  textContent = '';
  hidden = false;
  disabled = false;
  className = '';
  readonly dataset: Record<string, string> = {};
  readonly children: FakeElement[] = [];
  private parent: FakeElement | undefined;
  private readonly listeners: (() => void)[] = [];

  constructor(readonly id: string) {}

  get lastElementChild(): FakeElement | null {
    return this.children.at(-1) ?? null;
  }
  append(...nodes: (FakeElement | string)[]): void {
    for (const node of nodes) {
      const child = typeof node === 'string' ? Object.assign(new FakeElement(''), { textContent: node }) : node;
      child.parent = this;
      this.children.push(child);
    }
  }
  prepend(node: FakeElement): void {
    node.parent = this;
    this.children.unshift(node);
  }
  remove(): void {
    this.parent?.children.splice(this.parent.children.indexOf(this), 1);
  }
  addEventListener(type: string, listener: () => void): void {
    if (type === 'click') this.listeners.push(listener);
  }
  click(): void {
    if (!this.disabled) for (const listener of this.listeners) listener();
  }
  text(): string {
    return this.textContent + this.children.map((c) => c.text()).join('');
  }
}
