/**
 * The Lambda@Edge settings file, checked by the schema: unknown names get the "did you mean",
 * TH_KMS_KEY_ID belongs here, and `kms:` ciphertext is allowed on exactly the secret settings.
 */
import { describe, expect, it } from 'vitest';
import { SECRET_SETTINGS, encryptedSettings, validateEdgeSettings } from '../../src/config/from-bundle.js';
import { ConfigError } from '../../src/config/parse.js';
import { SETTINGS } from '../../src/config/schema.js';
import { baseRaw } from '../helpers/config.js';

const CIPHERTEXT = 'kms:c29tZSBjaXBoZXJ0ZXh0';

function problems(json: unknown): string[] {
  try {
    validateEdgeSettings(json);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('validateEdgeSettings', () => {
  it('refuses a misspelt name with the closest setting, and takes TH_KMS_KEY_ID', () => {
    expect(problems({ ...baseRaw(), TH_API_ROUTE: '/api=https://api.example.test' })).toEqual(['TH_API_ROUTE is not a setting: did you mean TH_API_ROUTES?']);
    const { settings } = validateEdgeSettings({ ...baseRaw(), TH_KMS_KEY_ID: 'alias/edge-token-handler' });
    expect(settings['TH_KMS_KEY_ID']).toBe('alias/edge-token-handler');
  });

  it('takes ciphertext for every secret setting of the schema, and for no other', () => {
    expect([...SECRET_SETTINGS].sort()).toEqual(SETTINGS.filter((s) => 'secret' in s && s.secret).map((s) => s.name).sort());
    const { TH_CLIENT_SECRET: _secret, ...rest } = baseRaw();
    const all = { ...rest, ...Object.fromEntries(SECRET_SETTINGS.map((name) => [name, CIPHERTEXT])) };
    const { settings } = validateEdgeSettings(all);
    expect(encryptedSettings(settings).map((s) => s.name).sort()).toEqual([...SECRET_SETTINGS].sort());
    for (const name of ['TH_CLIENT_ID', 'TH_KMS_KEY_ID', 'TH_SCOPE']) {
      expect(problems({ ...baseRaw(), [name]: CIPHERTEXT })).toContain(`${name} cannot be KMS ciphertext; only the secret settings (${SECRET_SETTINGS.join(', ')}) can`);
    }
  });
});
