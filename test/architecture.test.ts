/**
 * The layering of architecture.md, read from the imports themselves: adapters → app → core;
 * config feeds all; stores implement core ports. A wrong direction fails here, not in review.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

function files(dir: string, ext = '.ts'): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path, ext) : path.endsWith(ext) ? [path] : [];
  });
}

interface Import {
  readonly file: string;
  readonly specifier: string;
  /** For a relative import: the top folder of src/ it lands in (core, app, config, adapters, stores…). */
  readonly layer?: string;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const found: Import[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const specifier = (match[1] ?? match[2])!;
    if (specifier.startsWith('.')) {
      const target = relative(SRC, resolve(dirname(file), specifier));
      found.push({ file, specifier, layer: target.startsWith('..') ? 'outside' : target.split('/')[0]! });
    } else {
      found.push({ file, specifier });
    }
  }
  return found;
}

const layerOf = (file: string) => relative(SRC, file).split('/')[0]!;
const all = files(SRC).flatMap(importsOf);
const describeImport = (i: Import) => `${relative(ROOT, i.file)} imports ${i.specifier}`;

describe('the import direction', () => {
  it('finds the imports it checks', () => {
    // A parser that found nothing would pass every rule below.
    expect(all.filter((i) => layerOf(i.file) === 'core').length).toBeGreaterThan(20);
    expect(all.some((i) => i.layer === 'core' && layerOf(i.file) === 'adapters')).toBe(true);
  });

  it('keeps the core to Web APIs, jose, oauth4webapi and iron-webcrypto', () => {
    const allowed = new Set(['jose', 'oauth4webapi', 'iron-webcrypto']);
    const bad = all.filter((i) => layerOf(i.file) === 'core' && (i.layer ? i.layer !== 'core' : !allowed.has(i.specifier)));
    expect(bad.map(describeImport)).toEqual([]);
  });

  it("never lets the core read the process or Node's globals", () => {
    const bad = files(join(SRC, 'core')).filter((file) => /\bprocess\.|\bBuffer\.|\brequire\(/.test(readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')));
    expect(bad.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it('keeps the app free of adapters, stores and Node built-ins', () => {
    const bad = all.filter((i) => layerOf(i.file) === 'app' && (i.layer ? !['app', 'core', 'config'].includes(i.layer) : i.specifier.startsWith('node:')));
    expect(bad.map(describeImport)).toEqual([]);
  });

  it('lets config import only core types, and the AWS SDK only for KMS', () => {
    const bad = all.filter(
      (i) => layerOf(i.file) === 'config' && (i.layer ? !['config', 'core'].includes(i.layer) : !(i.specifier === '@aws-sdk/client-kms' && i.file.endsWith('kms-secrets.ts'))),
    );
    expect(bad.map(describeImport)).toEqual([]);
  });

  it('keeps each platform adapter out of the others', () => {
    const platformOf = (path: string) => relative(join(SRC, 'adapters'), path).split('/')[0];
    // The one exception: Lambda@Edge runs on Node, so it unseals with the Node adapter's node:crypto primitives.
    const shared = (i: Import) => platformOf(i.file) === 'lambda-edge' && relative(SRC, resolve(dirname(i.file), i.specifier)) === 'adapters/node/unseal-crypto.js';
    const bad = all.filter((i) => {
      if (layerOf(i.file) !== 'adapters' || i.layer !== 'adapters' || shared(i)) return false;
      return platformOf(resolve(dirname(i.file), i.specifier)) !== platformOf(i.file);
    });
    expect(bad.map(describeImport)).toEqual([]);
  });
});

describe('the test tree', () => {
  it('mirrors src/: every folder of unit tests names a folder of src/', () => {
    const mirrored = ['core', 'app', 'config', 'stores'];
    const orphans = files(join(ROOT, 'test'))
      .map((f) => relative(join(ROOT, 'test'), dirname(f)))
      .filter((dir) => mirrored.includes(dir.split('/')[0]!))
      .filter((dir) => {
        try {
          return !statSync(join(SRC, dir)).isDirectory();
        } catch {
          return true;
        }
      });
    expect([...new Set(orphans)]).toEqual([]);
  });
});
