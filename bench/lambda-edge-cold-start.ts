/**
 * Lambda@Edge bundle: size and cold start (`npx tsx bench/lambda-edge-cold-start.ts`; not part of
 * `npm test`).
 *
 * Size: function.zip built from examples/edge-config.example.json, as `npm run build:edge` writes it.
 *
 * Cold start: a bundle whose two secrets are KMS ciphertext, built against a local KMS endpoint
 * (test/runtime/lambda-edge/fake-kms.ts, the real SDK client signing for real). Each sample is a
 * fresh `node` process that imports the bundle (module evaluation, which also starts the KMS
 * Decrypt calls) and sends one CloudFront event, timed from just before the import to the answer:
 *   - GET /oauth-agent/session (configuration ready: KMS decrypted, settings parsed, app built);
 *   - POST /oauth-agent/login/start (the same, plus the IdP discovery fetch from the demo provider
 *     on loopback, and sealing the login cookie).
 * A second request in the same process gives the warm figure for contrast. Lambda adds its own
 * runtime start-up and the network to KMS in us-east-1 (a few ms in-Region, 100-250 ms from a
 * distant edge Region) on top; this measures what the bundle itself costs, on this machine's Node.
 *
 * Settings (environment): BENCH_SAMPLES (per request kind, default 15).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDemoProvider } from '../examples/provider.js';
import { buildEdge } from '../scripts/build-edge.js';
import { encryptionContext } from '../src/config/kms-secrets.js';
import { FAKE_CREDENTIALS, startFakeKms } from '../test/runtime/lambda-edge/fake-kms.js';

const run = promisify(execFile);
const SAMPLES = Number(process.env['BENCH_SAMPLES'] ?? 15);
const ROOT = new URL('..', import.meta.url).pathname;

// Runs in the child: one import, one first request, one warm request; prints the timings as JSON.
const CHILD = `
const [bundle, method, uri] = process.argv.slice(2);
const event = () => ({ Records: [{ cf: {
  config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'EDFDVBD6EXAMPLE', eventType: 'origin-request', requestId: 'bench' },
  request: { clientIp: '203.0.113.178', method, uri, querystring: '', headers: {
    host: [{ key: 'Host', value: 'origin.example.test' }],
    'token-handler-version': [{ key: 'Token-Handler-Version', value: '1' }],
    origin: [{ key: 'Origin', value: 'https://www.example.test' }],
  } },
} }] });
console.log = () => {};
const t0 = performance.now();
const { handler } = await import(bundle);
const t1 = performance.now();
const first = await handler(event());
const t2 = performance.now();
const second = await handler(event());
const t3 = performance.now();
if (first.status !== '200' || second.status !== '200') throw new Error('unexpected ' + first.status + ' ' + first.body);
process.stdout.write(JSON.stringify({ evaluate: t1 - t0, first: t2 - t1, total: t2 - t0, warm: t3 - t2 }));
`;

interface Sample {
  evaluate: number;
  first: number;
  total: number;
  warm: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'th-edge-bench-'));
  const kms = await startFakeKms();
  const provider = await startDemoProvider({
    port: 0,
    clients: [{ client_id: 'bench', client_secret: 'bench-secret', token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://www.example.test/'], post_logout_redirect_uris: [] }],
  });
  try {
    const example = await buildEdge({ configPath: join(ROOT, 'examples', 'edge-config.example.json'), outDir: join(dir, 'example') });
    const configPath = join(dir, 'bench.json');
    await writeFile(
      configPath,
      JSON.stringify({
        TH_PUBLIC_ORIGIN: 'https://www.example.test',
        TH_ISSUER: provider.issuer,
        TH_CLIENT_ID: 'bench',
        TH_CLIENT_SECRET: `kms:${kms.encrypt('bench-secret', encryptionContext('TH_CLIENT_SECRET'))}`,
        TH_COOKIE_KEYS: `kms:${kms.encrypt(`k1:${randomBytes(32).toString('base64url')}`, encryptionContext('TH_COOKIE_KEYS'))}`,
        TH_KMS_KEY_ID: kms.aliasName,
        TH_API_ROUTES: '/api=https://api.example.com/v1',
      }),
    );
    const { bundlePath } = await buildEdge({ configPath, outDir: join(dir, 'bench'), testKmsEndpoint: kms.url });
    const childPath = join(dir, 'child.mjs');
    await writeFile(childPath, CHILD);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true', NODE_NO_WARNINGS: '1' };

    console.log(`Lambda@Edge bundle (node ${process.version}, ${SAMPLES} cold processes per request)`);
    console.log(`  function.zip (example config): ${example.zipBytes!.toLocaleString('en')} bytes (${(example.zipBytes! / 1024).toFixed(0)} KiB; viewer-trigger limit 1 MiB)`);
    console.log(`  index.mjs, minified:           ${example.bundleBytes.toLocaleString('en')} bytes`);
    for (const [method, uri] of [
      ['GET', '/oauth-agent/session'],
      ['POST', '/oauth-agent/login/start'],
    ] as const) {
      const samples: Sample[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const before = kms.calls.length;
        const { stdout } = await run(process.execPath, [childPath, bundlePath, method, uri], { env });
        samples.push(JSON.parse(stdout) as Sample);
        if (kms.calls.length - before !== 2) throw new Error('expected two Decrypt calls per cold start');
      }
      const pick = (key: keyof Sample) => samples.map((s) => s[key]);
      console.log(`  cold ${method} ${uri}`);
      console.log(`    module evaluation  median ${ms(median(pick('evaluate')))}  (min ${ms(Math.min(...pick('evaluate')))}, max ${ms(Math.max(...pick('evaluate')))})`);
      console.log(`    first request      median ${ms(median(pick('first')))}  (min ${ms(Math.min(...pick('first')))}, max ${ms(Math.max(...pick('first')))})`);
      console.log(`    evaluation + first median ${ms(median(pick('total')))}  (min ${ms(Math.min(...pick('total')))}, max ${ms(Math.max(...pick('total')))})`);
      console.log(`    warm second request median ${ms(median(pick('warm')))}`);
    }
    console.log('Reproduce: npx tsx bench/lambda-edge-cold-start.ts   (BENCH_SAMPLES=15)');
  } finally {
    await provider.close();
    await kms.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
