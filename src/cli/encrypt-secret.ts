/**
 * `edge-token-handler encrypt-secret --setting <NAME> [--key-id alias/edge-token-handler]` (in a
 * clone: `npm run -s edge:encrypt-secret -- --setting <NAME>`)
 *
 * Encrypts one secret setting (TH_COOKIE_KEYS, TH_CLIENT_SECRET or TH_CLIENT_PRIVATE_KEY) with the
 * KMS key in us-east-1 and prints `kms:<base64>` for the Lambda@Edge configuration file. The value
 * is read from standard input, so it stays out of shell history and process listings:
 *
 *   printf '%s' "$(edge-token-handler keygen),k1:<old secret>" | edge-token-handler encrypt-secret --setting TH_COOKIE_KEYS
 *
 * The ciphertext is bound to the setting's name (KMS encryption context), so it only decrypts as
 * that setting. Uses your AWS credentials (profile, SSO or environment), which need kms:Encrypt on
 * the key; the function's role needs kms:Decrypt on it (both templates grant that).
 */
import { parseArgs } from 'node:util';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { KMS_PREFIX, SECRET_SETTINGS, type SecretSetting } from '../config/from-bundle.js';
import { KMS_REGION, encryptionContext } from '../config/kms-secrets.js';
import { ConfigError, isLoopbackHost, parseConfig } from '../config/parse.js';
import type { Command } from './io.js';
import { wantsHelp } from './io.js';

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
    TH_COOKIE_KEYS: `check:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`,
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

/** A secret may only ever go to the real KMS, or, in tests, to one on this machine. */
function isLoopbackUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}

export const encryptSecretCommand: Command = {
  usage: [
    `usage: <value on stdin> | edge-token-handler encrypt-secret --setting <${SECRET_SETTINGS.join('|')}> [--key-id ${DEFAULT_KEY_ID}]`,
    '',
    'Encrypts one secret setting with AWS KMS (us-east-1) for the Lambda@Edge configuration file and',
    'prints kms:<base64>. The value is read from standard input, so it stays out of shell history.',
    'The ciphertext decrypts only as that setting. Your credentials need kms:Encrypt on the key.',
    '',
    '  --setting <NAME>   the setting the value is for',
    `  --key-id <id>      key ARN, key id or alias (default ${DEFAULT_KEY_ID})`,
  ].join('\n'),
  async run(args, io) {
    if (wantsHelp(args)) {
      io.out(encryptSecretCommand.usage);
      return 0;
    }
    const { values } = parseArgs({
      args: [...args],
      options: { setting: { type: 'string' }, 'key-id': { type: 'string' }, 'test-kms-endpoint': { type: 'string' } },
    });
    if (!values.setting) {
      io.err(encryptSecretCommand.usage);
      return 2;
    }
    const endpoint = values['test-kms-endpoint'];
    if (endpoint !== undefined && !isLoopbackUrl(endpoint)) {
      io.err('--test-kms-endpoint must be a loopback URL (http://127.0.0.1:<port>); real secrets go to the real KMS');
      return 2;
    }
    if (io.stdinIsTerminal) io.err('Type or paste the value, then Ctrl-D:');
    // One trailing newline is what `echo` adds; the secret itself never ends in one.
    const value = (await io.readStdin()).replace(/\r?\n$/, '');
    try {
      const keyId = values['key-id'] ?? DEFAULT_KEY_ID;
      io.out(await encryptSecret({ setting: values.setting, value, keyId, ...(endpoint ? { endpoint } : {}) }));
      io.err(`Put this in the configuration file as ${values.setting}. The function's role needs kms:Decrypt on ${keyId} (us-east-1).`);
      return 0;
    } catch (error) {
      io.err(error instanceof Error ? error.message : String(error));
      return 1;
    }
  },
};
