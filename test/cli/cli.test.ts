/**
 * The `edge-token-handler` commands, run in-process through the dispatcher with a recorded I/O
 * (the bin itself, installed from the packed package, runs in test/ship/package.test.ts), and
 * `npm run edge:encrypt-secret` as a process against the KMS stand-in.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { createKmsDecrypter } from '../../src/config/kms-secrets.js';
import { parseConfig } from '../../src/config/parse.js';
import { baseRaw, randomSecret } from '../helpers/config.js';
import { FAKE_CREDENTIALS, startFakeKms, type FakeKms } from '../runtime/lambda-edge/fake-kms.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function cli(argv: string[], env: Record<string, string | undefined> = {}, now = Date.UTC(2026, 4, 17, 12)) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { env, out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => '', stdinIsTerminal: false, now: () => now });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'th-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('edge-token-handler', () => {
  it('lists the commands on --help (exit 0) and without a command (exit 2)', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const name of ['keygen', 'check-config', 'encrypt-secret']) expect(help.out).toContain(name);
    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.err).toContain('usage: edge-token-handler <command>');
  });

  it('refuses an unknown command or option with exit 2', async () => {
    expect((await cli(['keygne'])).code).toBe(2);
    expect((await cli(['toString'])).code).toBe(2);
    const option = await cli(['keygen', '--length', '64']);
    expect(option.code).toBe(2);
    expect(option.err).toContain('usage: edge-token-handler keygen');
  });

  it('describes each command on --help', async () => {
    for (const name of ['keygen', 'check-config', 'encrypt-secret']) {
      const help = await cli([name, '--help']);
      expect(help.code).toBe(0);
      expect(help.out).toContain(`usage: `);
      expect(help.out).toContain(name);
    }
  });
});

describe('keygen', () => {
  it('prints k<yyyymmdd>:<32 random bytes, base64url>, which TH_COOKIE_KEYS accepts', async () => {
    const first = await cli(['keygen']);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^k20260517:[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(first.out.split(':')[1]!, 'base64url')).toHaveLength(32);
    const second = await cli(['keygen']);
    expect(second.out).not.toBe(first.out);
    const config = parseConfig(baseRaw({ TH_COOKIE_KEYS: `${second.out},${first.out.replace('k20260517', 'k20260101')}` }));
    expect(config.cookieKeys.map((k) => k.id)).toEqual(['k20260517', 'k20260101']);
  });

  it('takes another id with --id, and refuses one TH_COOKIE_KEYS would not', async () => {
    expect((await cli(['keygen', '--id', 'blue_2'])).out).toMatch(/^blue_2:[A-Za-z0-9_-]{43}$/);
    const bad = await cli(['keygen', '--id', 'k1:x']);
    expect(bad.code).toBe(2);
    expect(bad.out).toBe('');
  });
});

describe('check-config', () => {
  it('accepts a valid environment (exit 0) without printing a secret', async () => {
    const env = baseRaw({ TH_API_ROUTES: '/api=https://api.example.test' });
    const ok = await cli(['check-config'], env);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('the configuration is valid');
    expect(ok.out + ok.err).not.toContain(env['TH_CLIENT_SECRET']);
    expect(ok.out + ok.err).not.toContain(env['TH_COOKIE_KEYS']!.split(':')[1]);
  });

  it('names a misspelt setting and every other problem at once (exit 1), never a value', async () => {
    const { TH_ISSUER: issuer, ...rest } = baseRaw();
    const shortSecret = 'not-long-enough-' + randomSecret(4);
    const bad = await cli(['check-config'], { ...rest, TH_ISUER: issuer, TH_COOKIE_KEYS: `k1:${shortSecret}`, SHUTDOWN_GRACE: 'later' });
    expect(bad.code).toBe(1);
    expect(bad.out).toBe('');
    expect(bad.err).toContain('TH_ISUER is not a setting: did you mean TH_ISSUER?');
    expect(bad.err).toContain('TH_COOKIE_KEYS');
    expect(bad.err).toContain('SHUTDOWN_GRACE');
    expect(bad.err).not.toContain(shortSecret);
  });

  it('checks the Lambda@Edge file with --file: the example passes, a typo and a bad value fail, all at once', async () => {
    const example = await cli(['check-config', '--file', join(ROOT, 'examples/edge-config.example.json')]);
    expect(example.code).toBe(0);
    expect(example.err).toBe('');

    const file = join(dir, 'typo.json');
    await writeFile(file, JSON.stringify({ ...baseRaw(), TH_SCOPES: 'openid', TH_CLOCK_SKEW: '9000' }));
    const bad = await cli(['check-config', '--file', file]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('TH_SCOPES is not a setting: did you mean TH_SCOPE?');
    expect(bad.err).toContain('TH_CLOCK_SKEW');
  });

  it('warns about plaintext secrets in the file, and never quotes a file that is not JSON', async () => {
    const plain = join(dir, 'plain.json');
    await writeFile(plain, JSON.stringify(baseRaw()));
    const warned = await cli(['check-config', '--file', plain]);
    expect(warned.code).toBe(0);
    expect(warned.err).toContain('warning: TH_COOKIE_KEYS is in plaintext');

    const secret = randomSecret();
    const broken = join(dir, 'broken.json');
    await writeFile(broken, `{"TH_CLIENT_SECRET": "${secret}",}`);
    const refused = await cli(['check-config', '--file', broken]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('is not valid JSON');
    expect(refused.err).not.toContain(secret);
    expect((await cli(['check-config', '--file', join(dir, 'missing.json')])).err).toContain('cannot be read (ENOENT)');
  });
});

describe('encrypt-secret', () => {
  let kms: FakeKms;
  beforeAll(async () => {
    kms = await startFakeKms();
    // For the decrypter in this process (the SDK's default credential chain), dummies as in kms.test.ts.
    vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE_CREDENTIALS.secretAccessKey);
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await kms.close();
  });

  const run = (args: string[], stdin: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        'npm',
        ['run', '-s', 'edge:encrypt-secret', '--', ...args],
        {
          cwd: ROOT,
          env: { PATH: process.env['PATH'], HOME: process.env['HOME'], AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true' },
        },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
      child.stdin!.end(stdin);
    });

  it('npm run edge:encrypt-secret reads the value from stdin and prints kms:<ciphertext> that decrypts as that setting', async () => {
    const value = randomSecret();
    const { code, stdout, stderr } = await run(['--setting', 'TH_CLIENT_SECRET', '--key-id', kms.aliasName, '--test-kms-endpoint', kms.url], `${value}\n`);
    expect(code, stderr).toBe(0);
    const line = stdout.trim();
    expect(line).toMatch(/^kms:[A-Za-z0-9+/]+={0,2}$/);
    expect(stdout + stderr).not.toContain(value);
    const decrypted = await createKmsDecrypter({ endpoint: kms.url, keyId: kms.aliasName })({ name: 'TH_CLIENT_SECRET', ciphertext: line.slice('kms:'.length) });
    expect(decrypted).toBe(value);
  });

  it('sends a secret only to a loopback test endpoint, and refuses a setting that is not secret', async () => {
    const before = kms.calls.length;
    const remote = await cli(['encrypt-secret', '--setting', 'TH_CLIENT_SECRET', '--test-kms-endpoint', 'https://kms.attacker.example']);
    expect(remote.code).toBe(2);
    expect(remote.err).toContain('loopback');
    const notSecret = await cli(['encrypt-secret', '--setting', 'TH_ISSUER', '--test-kms-endpoint', kms.url]);
    expect(notSecret.code).toBe(1);
    expect(notSecret.err).toContain('--setting must be one of');
    expect((await cli(['encrypt-secret'])).code).toBe(2);
    expect(kms.calls.length).toBe(before);
  });
});
