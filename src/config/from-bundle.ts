/**
 * Lambda@Edge has no environment variables, so the same `TH_*` settings come from a JSON file that
 * `npm run build:edge` validates and bundles into the function. Secret settings may be KMS
 * ciphertext (`"kms:<base64>"`); they are decrypted once per cold start (kms-secrets.ts) and only
 * then is the configuration parsed for real. This file never imports the AWS SDK, so the build
 * and the CDK app can use it too.
 */
import { ConfigError, parseConfig, type Config, type RawConfig } from './parse.js';

export const KMS_PREFIX = 'kms:';

/** The settings that may be given as KMS ciphertext. */
export const SECRET_SETTINGS = ['TH_COOKIE_KEYS', 'TH_CLIENT_SECRET', 'TH_CLIENT_PRIVATE_KEY'] as const;
export type SecretSetting = (typeof SECRET_SETTINGS)[number];

/**
 * Settings only the edge build reads. `TH_KMS_KEY_ID` (key ARN, key id or alias) pins Decrypt to
 * that key, so a ciphertext made under any other key is refused.
 */
export const EDGE_ONLY_SETTINGS = ['TH_KMS_KEY_ID'] as const;

/** A flat record of setting name to string value, as bundled into the function. */
export type EdgeSettings = Readonly<Record<string, string>>;

export interface EncryptedSetting {
  readonly name: SecretSetting;
  /** The KMS ciphertext blob, base64. */
  readonly ciphertext: string;
}

export type Decrypt = (setting: EncryptedSetting) => Promise<string>;

// Stand-ins that pass parseConfig's checks while the real secret is still KMS ciphertext (build
// time only); they are never bundled and never reach a running handler.
const PLACEHOLDERS: Record<SecretSetting, string> = {
  TH_COOKIE_KEYS: `kms:${'k'.repeat(32)}`,
  TH_CLIENT_SECRET: 's'.repeat(32),
  TH_CLIENT_PRIVATE_KEY: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }),
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isSecretSetting(name: string): name is SecretSetting {
  return (SECRET_SETTINGS as readonly string[]).includes(name);
}

/**
 * Reads the parsed JSON file into settings, reporting every problem with its shape: it must be one
 * object of `TH_*` names with string, number or boolean values (`"$comment"` is ignored), and
 * `kms:` values are allowed only on the secret settings and must hold base64.
 */
export function readEdgeSettings(json: unknown): { settings: EdgeSettings; problems: string[] } {
  const problems: string[] = [];
  const settings: Record<string, string> = {};
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    return { settings, problems: ['the configuration file must hold one JSON object of TH_* settings'] };
  }
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '$comment') continue;
    if (!/^TH_[A-Z0-9_]+$/.test(name)) {
      problems.push(`"${name}" is not a TH_* setting (build and test options are command-line flags, never part of this file)`);
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      problems.push(`${name} must be a string, number or boolean`);
      continue;
    }
    const text = String(value);
    if (text.startsWith(KMS_PREFIX)) {
      if (!isSecretSetting(name)) {
        problems.push(`${name} cannot be KMS ciphertext; only ${SECRET_SETTINGS.join(', ')} can`);
        continue;
      }
      const blob = text.slice(KMS_PREFIX.length);
      if (blob === '' || !BASE64.test(blob)) {
        problems.push(`${name} must be "kms:" followed by the base64 ciphertext from npm run edge:encrypt-secret`);
        continue;
      }
    }
    settings[name] = text;
  }
  return { settings, problems };
}

/**
 * The settings given as KMS ciphertext. In this file `kms:` always means ciphertext, so a cookie key
 * cannot have the id "kms" here.
 */
export function encryptedSettings(settings: EdgeSettings): EncryptedSetting[] {
  return SECRET_SETTINGS.filter((name) => settings[name]?.startsWith(KMS_PREFIX)).map((name) => ({
    name,
    ciphertext: settings[name]!.slice(KMS_PREFIX.length),
  }));
}

/** Secret settings given in plaintext: allowed, but they end up readable in the zip. */
export function plaintextSecrets(settings: EdgeSettings): SecretSetting[] {
  const encrypted = new Set(encryptedSettings(settings).map((s) => s.name));
  return SECRET_SETTINGS.filter((name) => settings[name] !== undefined && !encrypted.has(name));
}

/**
 * Build time: runs the file through the same parseConfig as every other platform, with stand-ins
 * for the encrypted secrets, and also refuses names parseConfig never reads (a typo would otherwise
 * silently fall back to a default). Throws {@link ConfigError} listing every problem.
 */
export function validateEdgeSettings(json: unknown): { settings: EdgeSettings; config: Config } {
  const { settings, problems } = readEdgeSettings(json);
  const raw: Record<string, string> = { ...settings };
  for (const { name } of encryptedSettings(settings)) raw[name] = PLACEHOLDERS[name];
  const read = new Set<string>();
  let config: Config | undefined;
  try {
    config = parseConfig(new Proxy(raw, { get: (target, name) => (typeof name === 'string' ? (read.add(name), target[name]) : undefined) }));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  for (const name of Object.keys(settings)) {
    if (!read.has(name) && !(EDGE_ONLY_SETTINGS as readonly string[]).includes(name)) {
      problems.push(`${name} is not a setting the token handler reads (a typo?)`);
    }
  }
  if (problems.length > 0 || !config) throw new ConfigError(problems);
  return { settings, config };
}

/**
 * Cold start: decrypts every encrypted secret (in parallel) and parses the result. Any failure
 * rejects; there is no partially configured handler.
 */
export async function resolveEdgeConfig(settings: EdgeSettings, decrypt: Decrypt): Promise<Config> {
  const encrypted = encryptedSettings(settings);
  const plaintexts = await Promise.all(encrypted.map((setting) => decrypt(setting)));
  const raw: Record<string, string> = { ...settings };
  encrypted.forEach(({ name }, index) => {
    raw[name] = plaintexts[index]!;
  });
  return parseConfig(raw as RawConfig);
}
