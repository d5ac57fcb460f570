/**
 * What a new user trips over first (issue 14, item 8): `osls package` without account-specific
 * parameters, and a Lambda@Edge settings file that git would pick up.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
let dir: string;
let artifact: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'th-first-run-'));
  // osls only copies the zip; its content is the Lambda@Edge tests' business.
  artifact = join(dir, 'function.zip');
  await writeFile(artifact, 'stand-in');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const osls = (args: string[]) =>
  run(process.execPath, [join(ROOT, 'node_modules/osls/bin/serverless.js'), 'package', `--param=artifact=${artifact}`, ...args], {
    cwd: join(ROOT, 'serverless'),
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', AWS_EC2_METADATA_DISABLED: 'true' },
  });

describe('osls package', () => {
  it('writes the template for --stage example with no other parameter', async () => {
    const out = join(dir, 'example');
    await osls(['--stage', 'example', '--package', out]);
    const template = await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8');
    expect(template).toContain('www.example.com');
    expect(template).toContain('arn:aws:kms:us-east-1:111122223333:key/');
  });

  it('refuses any other stage without kmsKeyArn, domainName and certificateArn, naming where each is used', async () => {
    const failure = await osls(['--stage', 'prod', '--package', join(dir, 'prod')]).then(
      () => undefined,
      (error: { stdout: string; stderr: string }) => error.stdout + error.stderr,
    );
    expect(failure).toContain('Value not found at "param" source');
    for (const where of ['provider.iam.role.statements.0.Resource', 'Aliases.0', 'ViewerCertificate.AcmCertificateArn']) expect(failure).toContain(where);
  });
});

it('keeps your settings files (edge-config.json, th.env) and packed tarballs out of git', async () => {
  const files = ['edge-config.json', 'th.env', 'edge-token-handler-0.1.0.tgz'];
  const { stdout } = await run('git', ['check-ignore', ...files], { cwd: ROOT });
  expect(stdout.trim().split('\n')).toEqual(files);
});
