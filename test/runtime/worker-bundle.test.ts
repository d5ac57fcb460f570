// The Worker as `wrangler deploy` would upload it, built offline with `--dry-run`: it must bundle
// with wrangler.toml as committed (no nodejs_compat flag, so any `node:*` import would fail the
// build or show up here), stay under 100 KiB gzipped, and carry nothing of the AWS SDK (the KMS
// client belongs to the Lambda@Edge path only) nor of the Redis client (the Worker's session store
// is the Durable Object it exports). The size is printed on every run.

import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUDGET_GZIP_BYTES = 100 * 1024;

it('bundles offline with wrangler deploy --dry-run, under 100 KiB gzipped, with no Node built-ins and no AWS SDK', async () => {
  const outdir = await mkdtemp(join(tmpdir(), 'th-worker-bundle-'));
  try {
    const result = spawnSync(process.execPath, [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', outdir], {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
      encoding: 'utf8',
    });
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.status, output).toBe(0);
    // The session store goes with it (issue 12: the deploy includes the store).
    expect(output).toMatch(/env\.SESSION_STORE \(SessionStoreObject\)\s+Durable Object/);

    expect((await readdir(outdir)).filter((f) => f.endsWith('.js'))).toEqual(['worker.js']);
    const bundle = await readFile(join(outdir, 'worker.js'));
    const gzipped = gzipSync(bundle).length;
    const reported = /Total Upload: .*/.exec(output)?.[0] ?? '(wrangler printed no total)';
    console.log(`Worker bundle: ${bundle.length} bytes, ${gzipped} bytes gzipped (${(gzipped / 1024).toFixed(1)} KiB); wrangler: ${reported}`);

    expect(gzipped).toBeLessThan(BUDGET_GZIP_BYTES);
    const source = bundle.toString('utf8');
    expect(source).not.toMatch(/["']node:[a-z_/]+["']/);
    for (const marker of ['@aws-sdk', 'TrentService', 'KMSClient', '@smithy', 'DynamoDBClient', '@redis', 'RedisCluster']) expect(source).not.toContain(marker);
    // The pieces it is made of are there (a bundle that lost them would be small for the wrong reason).
    for (const marker of ['Fe26.2', 'token-handler-version', 'cf-connecting-ip', 'config_invalid', 'SessionStoreObject']) expect(source).toContain(marker);
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
});
