/**
 * Real Chromium for the browser tests (Debian's package, driven by playwright-core over CDP), and a
 * recorder around each test's browser context: every step leaves a screenshot of every open tab
 * under test-results/e2e/<target>/<test>/, and a failing step leaves the pages' HTML and the
 * console and network log beside it. It also keeps every response from the SPA's origin, which is
 * what page JavaScript can read, so tests can search them for tokens.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/** The flags from DEVELOPERS.md: headless, no sandbox (containers), nothing phoning home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
export const VIEWPORT = { width: 900, height: 600 };

const RESULTS_DIR = fileURLToPath(new URL('../../test-results/e2e/', import.meta.url));

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    // Playwright turns the back/forward cache off; people's browsers have it on, and the back
    // button after a logout must not bring a logged-in page back from it.
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
  });
}

/** A response page JavaScript on the SPA's origin could have read (its body and headers). */
export interface ReadableResponse {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export class BrowserSession {
  readonly readable: ReadableResponse[] = [];
  /** Console messages, page errors and a line per response (URLs without their query). */
  readonly log: string[] = [];
  private readonly started = Date.now();
  private readonly pending = new Set<Promise<void>>();
  private stepNumber = 0;
  private readonly pageNames = new WeakMap<Page, string>();

  private constructor(
    readonly context: BrowserContext,
    readonly dir: string,
    private readonly origin: string,
  ) {
    context.on('page', (page) => this.watch(page));
    context.on('response', (response) => {
      const done = this.record(response).finally(() => this.pending.delete(done));
      this.pending.add(done);
    });
  }

  /** A fresh context (its own cookies and storage) whose artefacts go to test-results/e2e/<target>/<test>/. */
  static async open(browser: Browser, options: { target: string; test: string; origin: string }): Promise<BrowserSession> {
    const dir = `${RESULTS_DIR}${slug(options.target)}/${slug(options.test)}/`;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const context = await browser.newContext({ viewport: VIEWPORT });
    return new BrowserSession(context, dir, options.origin);
  }

  async newPage(): Promise<Page> {
    return this.context.newPage();
  }

  /**
   * Runs one step of a scenario. Afterwards every open tab is photographed (`NN-name.png`); when the
   * step throws, the tabs' HTML and the log are saved too, then the error goes on.
   */
  async step<T>(name: string, run: () => Promise<T>): Promise<T> {
    const prefix = `${String(++this.stepNumber).padStart(2, '0')}-${slug(name)}`;
    this.note(`--- step ${prefix}`);
    try {
      const result = await run();
      await this.capture(prefix, false);
      return result;
    } catch (error) {
      this.note(`step failed: ${error instanceof Error ? error.message : String(error)}`);
      await this.capture(`${prefix}.failed`, true).catch(() => {});
      throw error;
    }
  }

  /** Every response recorded so far, once their bodies have been read. */
  async settled(): Promise<ReadableResponse[]> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    return this.readable;
  }

  async close(): Promise<void> {
    await this.settled();
    await writeFile(`${this.dir}log.txt`, this.log.join('\n') + '\n');
    await this.context.close();
  }

  /** One line of the session's log, stamped with the milliseconds since the session opened. */
  note(line: string): void {
    this.log.push(`${String(Date.now() - this.started).padStart(6)} ${line}`);
  }

  private watch(page: Page): void {
    const name = `tab${this.context.pages().indexOf(page) + 1}`;
    this.pageNames.set(page, name);
    page.on('console', (message) => this.note(`[${name} console.${message.type()}] ${message.text()}`));
    page.on('pageerror', (error) => this.note(`[${name} pageerror] ${error.message}`));
    page.on('requestfailed', (request) => this.note(`[${name} requestfailed] ${request.method()} ${withoutQuery(request.url())} ${request.failure()?.errorText ?? ''}`));
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) this.note(`[${name} navigated] ${withoutQuery(frame.url())}`);
    });
  }

  private async record(response: Response): Promise<void> {
    const request = response.request();
    const page = request.frame()?.page();
    this.note(`[${(page && this.pageNames.get(page)) ?? 'context'} response] ${response.status()} ${request.method()} ${withoutQuery(response.url())}`);
    // Readable by the SPA's scripts: its own documents, and what a page on its origin fetched (a
    // page on another site gets an opaque answer or a CORS error for the same URL).
    if (new URL(response.url()).origin !== this.origin) return;
    if (!request.isNavigationRequest() && originOf(request.frame()?.url()) !== this.origin) return;
    let body = '';
    try {
      body = (await response.body()).toString('utf8');
    } catch {
      // Redirects and responses of pages already gone have no body to read.
    }
    this.readable.push({ method: request.method(), url: response.url(), status: response.status(), headers: await response.allHeaders(), body });
  }

  private async capture(prefix: string, failed: boolean): Promise<void> {
    const pages = this.context.pages();
    for (const [index, page] of pages.entries()) {
      const suffix = pages.length > 1 ? `.tab${index + 1}` : '';
      if (pages.length > 1) await page.bringToFront().catch(() => {});
      await page.screenshot({ path: `${this.dir}${prefix}${suffix}.png` }).catch(() => {});
      if (failed) await writeFile(`${this.dir}${prefix}${suffix}.html`, await page.content().catch((e: unknown) => `<!-- no content: ${String(e)} -->`));
    }
    if (failed) await writeFile(`${this.dir}${prefix}.log.txt`, this.log.join('\n') + '\n');
  }
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 80);
}

function originOf(url: string | undefined): string | undefined {
  try {
    return url ? new URL(url).origin : undefined;
  } catch {
    return undefined;
  }
}

/** Logged URLs lose their query: the provider's redirects carry codes and states. */
function withoutQuery(url: string): string {
  return url.split(/[?#]/, 1)[0] ?? url;
}
