/**
 * `npm run build:edge`: the example configuration builds into a zip small enough for any trigger;
 * a bad file fails the build naming every problem; test-only options stay test-only; and the AWS
 * SDK is reachable from the Lambda@Edge entry only.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEdge } from '../../../scripts/build-edge.js';
import { ConfigError } from '../../../src/config/parse.js';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const EXAMPLE = join(ROOT, 'examples', 'edge-config.example.json');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'th-edge-build-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function buildCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/build-edge.ts', ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The entries of a zip file, read from its central directory and inflated. */
function unzip(zip: Buffer): Map<string, Buffer> {
  const eocd = zip.length - 22;
  expect(zip.readUInt32LE(eocd)).toBe(0x06054b50);
  const entries = new Map<string, Buffer>();
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < zip.readUInt16LE(eocd + 10); i++) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const skip = nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const local = zip.readUInt32LE(at + 42);
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(data, data + compressed);
    entries.set(name, method === 8 ? inflateRawSync(raw) : raw);
    at += 46 + skip;
  }
  return entries;
}

describe('npm run build:edge', () => {
  it('builds the example configuration into function.zip (< 1 MB) holding index.mjs with the settings bundled', async () => {
    const out = join(dir, 'example');
    const result = await buildCli('--config', EXAMPLE, '--out-dir', out);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/function\.zip\s+[\d,]+ bytes \(nodejs22\.x, handler index\.handler\)/);
    const zip = await readFile(join(out, 'function.zip'));
    expect(zip.length).toBeLessThan(1024 * 1024);
    const entries = unzip(zip);
    expect([...entries.keys()]).toEqual(['index.mjs']);
    const bundle = await readFile(join(out, 'index.mjs'));
    expect(entries.get('index.mjs')!.equals(bundle)).toBe(true);
    const text = bundle.toString('utf8');
    const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as Record<string, string>;
    // The ciphertext is bundled as written; the build-time stand-ins for it never are.
    expect(text).toContain(example['TH_COOKIE_KEYS']);
    expect(text).toContain(example['TH_PUBLIC_ORIGIN']);
    expect(text).not.toContain('buildstandin');
    expect(text).not.toContain('"$comment"');
    // The same input builds the same zip.
    await buildEdge({ configPath: EXAMPLE, outDir: join(dir, 'again') });
    expect((await readFile(join(dir, 'again', 'function.zip'))).equals(zip)).toBe(true);
  });

  it('fails on a bad file, naming every problem and no secret', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        TH_PUBLIC_ORIGIN: 'http://www.example.com',
        TH_ISUER: 'https://login.example.com',
        TH_CLIENT_ID: 'kms:c3B5',
        TH_CLIENT_SECRET: 'kms:not base64!',
        TH_COOKIE_KEYS: 'k1:plaintext-but-far-too-short',
        TH_SESSION_LIFETIME: { hours: 8 },
        kmsEndpoint: 'http://127.0.0.1:4566',
      }),
    );
    const result = await buildCli('--config', bad, '--out-dir', join(dir, 'bad'));
    expect(result.code).toBe(1);
    const problems = [
      'TH_ISSUER is required',
      'TH_ISUER is not a setting: did you mean TH_ISSUER?',
      'TH_CLIENT_ID cannot be KMS ciphertext',
      'TH_CLIENT_SECRET must be "kms:" followed by the base64 ciphertext',
      'TH_SESSION_LIFETIME must be a string, number or boolean',
      '"kmsEndpoint" is not a TH_* setting',
      'TH_PUBLIC_ORIGIN must be an https URL',
      'TH_COOKIE_KEYS key "k1" is too short',
    ];
    for (const problem of problems) expect(result.stderr).toContain(problem);
    expect(result.stderr).not.toContain('plaintext-but-far-too-short');
    await expect(readdir(join(dir, 'bad'))).rejects.toThrow();
  });

  it('refuses API upstreams CloudFront cannot use as an origin', async () => {
    const file = join(dir, 'origins.json');
    const base = JSON.parse(await readFile(EXAMPLE, 'utf8')) as Record<string, string>;
    await writeFile(file, JSON.stringify({ ...base, TH_API_ROUTES: '/api=https://203.0.113.10/v1,/orders=https://orders.example.com:8/v2' }));
    const error = (await buildEdge({ configPath: file, outDir: join(dir, 'origins') }).catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.problems).toEqual([
      'TH_API_ROUTES upstream for /api is an IP address; CloudFront origins must be domain names',
      'TH_API_ROUTES upstream for /orders uses port 8; CloudFront origins accept 80, 443 or 1024-65535',
    ]);
  });

  it('takes a KMS endpoint override for tests only: loopback only, and then writes no function.zip', async () => {
    const refused = (await buildEdge({ configPath: EXAMPLE, outDir: join(dir, 'remote'), testKmsEndpoint: 'https://kms.attacker.example' }).catch((e: unknown) => e)) as ConfigError;
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused.problems).toEqual(['--test-kms-endpoint must be a loopback URL (http://127.0.0.1:<port>); a deployed function always uses the real KMS']);

    const out = join(dir, 'test-build');
    const result = await buildEdge({ configPath: EXAMPLE, outDir: out, testKmsEndpoint: 'http://127.0.0.1:4599' });
    expect(result.zipPath).toBeUndefined();
    expect(await readdir(out)).toEqual(['index.mjs']);
    expect(await readFile(result.bundlePath, 'utf8')).toContain('http://127.0.0.1:4599');
    // A real build carries no endpoint override at all.
    expect(await readFile(join(dir, 'example', 'index.mjs'), 'utf8')).not.toContain('127.0.0.1:4599');
  });

  it('keeps @aws-sdk/client-kms out of every entry but Lambda@Edge', async () => {
    // Each platform's entry module, as its build bundles it.
    const entries = ['node/server.ts', 'workers/worker.ts', 'lambda-edge/handler.ts'];
    for (const entry of entries) {
      const { metafile } = await build({
        entryPoints: [join(ROOT, 'src', 'adapters', entry)],
        bundle: true,
        write: false,
        metafile: true,
        platform: entry === 'workers/worker.ts' ? 'neutral' : 'node',
        format: 'esm',
        mainFields: ['module', 'main'],
        external: ['cloudflare:*'],
        logLevel: 'silent',
      });
      const inputs = Object.keys(metafile.inputs);
      expect(inputs.some((input) => input.includes('node_modules/@aws-sdk/client-kms/')), entry).toBe(entry === 'lambda-edge/handler.ts');
      // Node may hold the DynamoDB client (TH_SESSION_STORE=dynamodb://, loaded only when chosen); the Worker no AWS SDK at all.
      if (entry === 'workers/worker.ts') expect(inputs.some((input) => input.includes('node_modules/@aws-sdk/')), entry).toBe(false);
    }
  });
});
