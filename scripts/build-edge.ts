/// <reference path="./yazl.d.ts" />
/**
 * `npm run build:edge -- --config <file.json>`: validates the Lambda@Edge settings with the same
 * parseConfig as every other platform (a bad file fails the build, naming every problem), bundles
 * them into the handler with esbuild (minified, for the nodejs22.x runtime), and writes
 * `dist/lambda-edge/function.zip` holding `index.mjs` (handler `index.handler`).
 *
 * `--test-kms-endpoint <loopback URL>` exists for tests and benchmarks only: it points the KMS
 * client at a local endpoint. It is a flag, never a key of the configuration file, it accepts only
 * loopback URLs (which a deployed function could not reach: it would fail closed), and a build
 * made with it writes no function.zip, so it cannot become the deployed artifact by accident.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import yazl from 'yazl';
import { plaintextSecrets, validateEdgeSettings, type EdgeSettings } from '../src/config/from-bundle.js';
import { ConfigError, isLoopbackHost, type ApiRoute } from '../src/config/parse.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT_DIR = join(ROOT, 'dist', 'lambda-edge');
const ENTRY = join(ROOT, 'src', 'adapters', 'lambda-edge', 'handler.ts');
/** The Lambda runtime the bundle targets (and the templates declare). */
export const LAMBDA_RUNTIME = 'nodejs22.x';
// A fixed timestamp makes the zip depend on its content only, so an unchanged build deploys nothing new.
const ZIP_MTIME = new Date('2020-01-01T00:00:00Z');

export interface BuildEdgeOptions {
  readonly configPath: string;
  readonly outDir?: string;
  /** Tests and benchmarks only; see the file comment. */
  readonly testKmsEndpoint?: string;
}

export interface BuildEdgeResult {
  readonly bundlePath: string;
  /** Absent for test builds. */
  readonly zipPath?: string;
  readonly bundleBytes: number;
  readonly zipBytes?: number;
  readonly warnings: readonly string[];
}

/** Throws {@link ConfigError} (every problem at once) for a bad file or option. */
export async function buildEdge(options: BuildEdgeOptions): Promise<BuildEdgeResult> {
  const outDir = resolve(options.outDir ?? DEFAULT_OUT_DIR);
  const { settings, problems, warnings, apiRoutes } = await checkConfigFile(options.configPath);
  if (options.testKmsEndpoint !== undefined) problems.push(...testEndpointProblems(options.testKmsEndpoint));
  if (problems.length > 0) throw new ConfigError(problems);
  for (const route of apiRoutes) warnings.push(...originWarnings(route));
  if (options.testKmsEndpoint !== undefined) warnings.push(`test build: KMS calls go to ${options.testKmsEndpoint}; no function.zip is written`);

  await mkdir(outDir, { recursive: true });
  const bundlePath = join(outDir, 'index.mjs');
  await build({
    entryPoints: [ENTRY],
    outfile: bundlePath,
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // Prefer the packages' ES builds; CommonJS left in the bundle gets a real `require` for Node built-ins.
    mainFields: ['module', 'main'],
    banner: { js: "import{createRequire as __thCreateRequire}from'node:module';const require=__thCreateRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'warning',
    define: {
      __TH_EDGE_SETTINGS__: JSON.stringify(settings),
      __TH_TEST_KMS_ENDPOINT__: options.testKmsEndpoint === undefined ? 'undefined' : JSON.stringify(options.testKmsEndpoint),
    },
  });
  const bundleBytes = (await stat(bundlePath)).size;
  if (options.testKmsEndpoint !== undefined) return { bundlePath, bundleBytes, warnings };

  const zipPath = join(outDir, 'function.zip');
  const zip = new yazl.ZipFile();
  zip.addBuffer(await readFile(bundlePath), 'index.mjs', { mtime: ZIP_MTIME, mode: 0o100644 });
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(zipPath));
  return { bundlePath, zipPath, bundleBytes, zipBytes: (await stat(zipPath)).size, warnings };
}

/** Reads and validates the configuration file; every problem is collected, none thrown. */
export async function checkConfigFile(configPath: string): Promise<{ settings: EdgeSettings; problems: string[]; warnings: string[]; apiRoutes: readonly ApiRoute[] }> {
  const problems: string[] = [];
  const warnings: string[] = [];
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    return { settings: {}, problems: [`cannot read ${configPath}: ${(error as Error).message}`], warnings, apiRoutes: [] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { settings: {}, problems: [`${configPath} is not valid JSON: ${(error as Error).message}`], warnings, apiRoutes: [] };
  }
  try {
    const { settings, config } = validateEdgeSettings(json);
    for (const route of config.apiRoutes) problems.push(...originProblems(route));
    for (const name of plaintextSecrets(settings)) {
      warnings.push(`${name} is in plaintext and will be readable in function.zip; encrypt it with npm run edge:encrypt-secret`);
    }
    return { settings, problems, warnings, apiRoutes: config.apiRoutes };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { settings: {}, problems: [...error.problems], warnings, apiRoutes: [] };
  }
}

/**
 * CloudFront's rules for a custom origin that a function switches to: a domain name (no IP
 * address), port 80, 443 or 1024-65535. Loopback upstreams are let through for local tests.
 */
function originProblems(route: ApiRoute): string[] {
  const url = new URL(route.upstream);
  const where = `TH_API_ROUTES upstream for ${route.prefix}`;
  const problems: string[] = [];
  const ip = /^\d{1,3}(\.\d{1,3}){3}$/.test(url.hostname) || url.hostname.startsWith('[');
  if (ip && !isLoopbackHost(url.hostname)) problems.push(`${where} is an IP address; CloudFront origins must be domain names`);
  const port = url.port ? Number(url.port) : undefined;
  if (port !== undefined && port !== 80 && port !== 443 && (port < 1024 || port > 65535)) {
    problems.push(`${where} uses port ${port}; CloudFront origins accept 80, 443 or 1024-65535`);
  }
  return problems;
}

function originWarnings(route: ApiRoute): string[] {
  const url = new URL(route.upstream);
  return isLoopbackHost(url.hostname) ? [`TH_API_ROUTES upstream for ${route.prefix} is a loopback address: fine for local tests, unreachable from CloudFront`] : [];
}

function testEndpointProblems(endpoint: string): string[] {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return ['--test-kms-endpoint is not a URL'];
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !isLoopbackHost(url.hostname)) {
    return ['--test-kms-endpoint must be a loopback URL (http://127.0.0.1:<port>); a deployed function always uses the real KMS'];
  }
  return [];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      'out-dir': { type: 'string' },
      'test-kms-endpoint': { type: 'string' },
    },
  });
  if (!values.config) {
    console.error('usage: npm run build:edge -- --config <file.json> [--out-dir <dir>]');
    process.exit(2);
  }
  try {
    const result = await buildEdge({
      configPath: values.config,
      ...(values['out-dir'] ? { outDir: values['out-dir'] } : {}),
      ...(values['test-kms-endpoint'] ? { testKmsEndpoint: values['test-kms-endpoint'] } : {}),
    });
    for (const warning of result.warnings) console.warn(`warning: ${warning}`);
    const where = (p: string) => relative(process.cwd(), p) || p;
    console.log(`${where(result.bundlePath)}  ${result.bundleBytes.toLocaleString('en')} bytes`);
    if (result.zipPath) {
      console.log(`${where(result.zipPath)}  ${result.zipBytes!.toLocaleString('en')} bytes (${LAMBDA_RUNTIME}, handler index.handler)`);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`${values.config}: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}

