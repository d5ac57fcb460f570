// Builds the example SPA in memory (esbuild bundles examples/spa/main.ts) and serves it as static
// files, the way a CDN would: index.html for the page and its client-side routes, the script and the
// stylesheet, each with a strict Content-Security-Policy and no caching surprises.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export type SpaFile = { body: Uint8Array; type: string };
export type SpaFiles = Map<string, SpaFile>;

export type BuildSpaOptions = {
  /** The token handler's agent path baked into the script; default '/oauth-agent'. */
  agentPath?: string;
  /** Default true. */
  minify?: boolean;
};

/** The page's policy: scripts, styles and calls only from its own origin; no framing, no <base>. */
export const SPA_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SPA_DIR = fileURLToPath(new URL('./spa/', import.meta.url));

const TYPES = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json',
} as const;

/**
 * The SPA's files keyed by URL path: `/index.html`, `/main.js` (with `/main.js.map`) and
 * `/style.css`.
 */
export async function buildSpa(options: BuildSpaOptions = {}): Promise<SpaFiles> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (cause) {
    throw new Error('The example SPA needs esbuild to build (it is installed with tsx; try `npm install`).', { cause });
  }
  const result = await esbuild.build({
    entryPoints: [SPA_DIR + 'main.ts'],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    outdir: SPA_DIR + 'dist',
    entryNames: 'main',
    legalComments: 'none',
    logLevel: 'silent',
    define: { TH_AGENT_PATH: JSON.stringify(options.agentPath ?? '/oauth-agent') },
  });

  const files: SpaFiles = new Map();
  for (const output of result.outputFiles) {
    const name = output.path.slice(output.path.lastIndexOf('/') + 1);
    if (name === 'main.js') files.set('/main.js', { body: output.contents, type: TYPES.js });
    else if (name === 'main.js.map') files.set('/main.js.map', { body: output.contents, type: TYPES.map });
  }
  if (!files.has('/main.js')) throw new Error('esbuild produced no main.js');
  files.set('/index.html', { body: await readFile(SPA_DIR + 'index.html'), type: TYPES.html });
  files.set('/style.css', { body: await readFile(SPA_DIR + 'style.css'), type: TYPES.css });
  return files;
}

const etags = new WeakMap<SpaFile, string>();

function etagOf(file: SpaFile): string {
  let tag = etags.get(file);
  if (!tag) {
    tag = `"${createHash('sha256').update(file.body).digest('base64url').slice(0, 27)}"`;
    etags.set(file, tag);
  }
  return tag;
}

/**
 * Answers a request for the SPA: `/` and any unknown path that accepts HTML get index.html (so
 * the IdP's redirect and client-side routes land on the app); known files get their own type;
 * anything else is a 404. Only GET and HEAD.
 */
export function serveSpa(files: SpaFiles, request: Request): Response {
  const headers = new Headers({
    'content-security-policy': SPA_CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    headers.set('allow', 'GET, HEAD');
    headers.set('content-type', 'text/plain; charset=utf-8');
    return new Response('Method not allowed\n', { status: 405, headers });
  }

  const path = new URL(request.url).pathname;
  let file = files.get(path === '/' ? '/index.html' : path);
  if (!file && acceptsHtml(request)) file = files.get('/index.html');
  if (!file) {
    headers.set('content-type', 'text/plain; charset=utf-8');
    headers.set('cache-control', 'no-store');
    return new Response(request.method === 'HEAD' ? null : 'Not found\n', { status: 404, headers });
  }

  // The file names carry no content hash, so every file is revalidated (cheap, thanks to the ETag).
  const etag = etagOf(file);
  headers.set('content-type', file.type);
  headers.set('cache-control', 'no-cache');
  headers.set('etag', etag);
  if (request.headers.get('if-none-match')?.split(/\s*,\s*/).includes(etag)) {
    return new Response(null, { status: 304, headers });
  }
  headers.set('content-length', String(file.body.byteLength));
  return new Response(request.method === 'HEAD' ? null : (file.body as Uint8Array<ArrayBuffer>), { status: 200, headers });
}

function acceptsHtml(request: Request): boolean {
  return (request.headers.get('accept') ?? '').toLowerCase().includes('text/html');
}
