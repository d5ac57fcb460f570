/**
 * `npm run build`: src/ to dist/ with tsc (tsconfig.build.json: ES modules and declarations, for
 * the package's exports and the CLI), and `dist/node/server.js`, the production entry a container
 * runs. The Worker (wrangler) and Lambda@Edge (npm run build:edge) bundles have builds of their own
 * under dist/ too, which this one leaves alone.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');

// What an earlier build wrote (a module since deleted from src/ must not linger in the package).
for (const entry of await readdir(join(ROOT, 'src'), { withFileTypes: true })) {
  const base = entry.name.replace(/\.ts$/, '');
  const targets = entry.isDirectory() ? [base] : [`${base}.js`, `${base}.d.ts`];
  for (const target of targets) await rm(join(DIST, target), { recursive: true, force: true });
}
await rm(join(DIST, 'node'), { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

await mkdir(join(DIST, 'node'), { recursive: true });
await writeFile(join(DIST, 'node', 'server.js'), "// The production entry (`node dist/node/server.js`); see src/adapters/node/main.ts.\nimport '../adapters/node/main.js';\n");
await chmod(join(DIST, 'cli', 'main.js'), 0o755);
console.log('dist/node/server.js (the server), dist/cli/main.js (edge-token-handler), dist/index.js and dist/adapters/*/index.js (the package entries)');
