/**
 * Lambda@Edge has no environment variables, so the same `TH_*` settings come from a JSON file that
 * `npm run build:edge` validates and bundles into the function. Secret settings may be KMS
 * ciphertext (`"kms:<base64>"`); they are decrypted once per cold start (kms-secrets.ts) and only
 * then is the configuration parsed for real. This file never imports the AWS SDK, so the build
 * and the CDK app can use it too.
 */
import { ConfigError, parseConfig, type Config, type RawConfig } from './parse.js';
import { SECRET_SETTINGS, isSecretSetting, type SecretSetting } from './schema.js';

export { SECRET_SETTINGS, type SecretSetting } from './schema.js';

export const KMS_PREFIX = 'kms:';

/** A flat record of setting name to string value, as bundled into the function. */
export type EdgeSettings = Readonly<Record<string, string>>;

export interface EncryptedSetting {
  readonly name: SecretSetting;
  /** The KMS ciphertext blob, base64. */
  readonly ciphertext: string;
}

export type Decrypt = (setting: EncryptedSetting) => Promise<string>;

// Stand-ins that pass parseConfig's checks while the real secret is still KMS ciphertext (build
// time only); they are never bundled and never reach a running handler. The cookie key is random
// so that it passes the weak-secret check without being a fixed key anyone could read here.
function placeholder(name: SecretSetting): string {
  switch (name) {
    case 'TH_COOKIE_KEYS':
      return `buildstandin:${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    case 'TH_CLIENT_SECRET':
      return 's'.repeat(32);
    case 'TH_CLIENT_PRIVATE_KEY':
      return JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' });
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

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
        problems.push(`${name} cannot be KMS ciphertext; only the secret settings (${SECRET_SETTINGS.join(', ')}) can`);
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
 * Build time: runs the file through the same parseConfig as every other platform (as Lambda@Edge,
 * so unknown and other-platform names are refused), with stand-ins for the encrypted secrets.
 * Throws {@link ConfigError} listing every problem.
 */
export function validateEdgeSettings(json: unknown): { settings: EdgeSettings; config: Config } {
  const { settings, problems } = readEdgeSettings(json);
  const raw: Record<string, string> = { ...settings };
  for (const { name } of encryptedSettings(settings)) raw[name] = placeholder(name);
  let config: Config | undefined;
  try {
    config = parseConfig(raw, { platform: 'lambda-edge' });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
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
  return parseConfig(raw as RawConfig, { platform: 'lambda-edge' });
}
