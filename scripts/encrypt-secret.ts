/**
 * `npm run edge:encrypt-secret -- --setting <NAME> [--key-id alias/edge-token-handler]`
 *
 * Encrypts one secret setting (TH_COOKIE_KEYS, TH_CLIENT_SECRET or TH_CLIENT_PRIVATE_KEY) with the
 * KMS key in us-east-1 and prints `kms:<base64>` for the Lambda@Edge configuration file. The value
 * is read from standard input, so it stays out of shell history and process listings:
 *
 *   printf '%s' "k2:$(openssl rand -base64 32),k1:<old secret>" | npm run -s edge:encrypt-secret -- --setting TH_COOKIE_KEYS
 *
 * The ciphertext is bound to the setting's name (KMS encryption context), so it only decrypts as
 * that setting. Uses your AWS credentials (profile, SSO or environment), which need kms:Encrypt on
 * the key; the function's role needs kms:Decrypt on it (both templates grant that).
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { KMS_PREFIX, SECRET_SETTINGS, type SecretSetting } from '../src/config/from-bundle.js';
import { KMS_REGION, encryptionContext } from '../src/config/kms-secrets.js';
import { ConfigError, parseConfig } from '../src/config/parse.js';

export const DEFAULT_KEY_ID = 'alias/edge-token-handler';

export interface EncryptSecretOptions {
  readonly setting: string;
  readonly value: string;
  readonly keyId?: string;
  /** Tests only: a loopback KMS endpoint. */
  readonly endpoint?: string;
}

/** Returns `kms:<base64>`; throws on an unknown setting, a value parseConfig would refuse, or a KMS error. */
export async function encryptSecret(options: EncryptSecretOptions): Promise<string> {
  if (!(SECRET_SETTINGS as readonly string[]).includes(options.setting)) {
    throw new Error(`--setting must be one of ${SECRET_SETTINGS.join(', ')}`);
  }
  const setting = options.setting as SecretSetting;
  const problems = problemsWith(setting, options.value);
  if (problems.length > 0) throw new ConfigError(problems);
  const client = new KMSClient({ region: KMS_REGION, ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
  const output = await client.send(
    new EncryptCommand({
      KeyId: options.keyId ?? DEFAULT_KEY_ID,
      Plaintext: new TextEncoder().encode(options.value),
      EncryptionContext: encryptionContext(setting),
    }),
  );
  if (!output.CiphertextBlob) throw new Error('KMS returned no ciphertext');
  return KMS_PREFIX + Buffer.from(output.CiphertextBlob).toString('base64');
}

/** What parseConfig says about this one value (with harmless stand-ins for everything else). */
function problemsWith(setting: SecretSetting, value: string): string[] {
  const raw: Record<string, string> = {
    TH_PUBLIC_ORIGIN: 'https://www.example.com',
    TH_ISSUER: 'https://login.example.com',
    TH_CLIENT_ID: 'check',
    // Random, so the stand-in passes the weak-secret check.
    TH_COOKIE_KEYS: `check:${randomBytes(32).toString('base64url')}`,
    TH_CLIENT_SECRET: 'c'.repeat(32),
    [setting]: value,
  };
  if (setting === 'TH_CLIENT_PRIVATE_KEY') delete raw['TH_CLIENT_SECRET'];
  try {
    parseConfig(raw);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // One trailing newline is what `echo` adds; the secret itself never ends in one.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      setting: { type: 'string' },
      'key-id': { type: 'string' },
      'test-kms-endpoint': { type: 'string' },
    },
  });
  if (!values.setting) {
    console.error(`usage: <value on stdin> | npm run -s edge:encrypt-secret -- --setting <${SECRET_SETTINGS.join('|')}> [--key-id ${DEFAULT_KEY_ID}]`);
    process.exit(2);
  }
  if (process.stdin.isTTY) console.error('Type or paste the value, then Ctrl-D:');
  const value = await readStdin();
  try {
    const keyId = values['key-id'] ?? DEFAULT_KEY_ID;
    console.log(await encryptSecret({ setting: values.setting, value, keyId, ...(values['test-kms-endpoint'] ? { endpoint: values['test-kms-endpoint'] } : {}) }));
    console.error(`Put this in the configuration file as ${values.setting}. The function's role needs kms:Decrypt on ${keyId} (us-east-1).`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
