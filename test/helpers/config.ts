/** Test-only settings. The keys here are generated per test run, never used anywhere else. */
import { parseConfig, type Config, type RawConfig } from '../../src/config/parse.js';

export function randomSecret(bytes = 32): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64url');
}

export const TEST_KEYS = `k1:${randomSecret()}`;

export function baseRaw(overrides: RawConfig = {}): Record<string, string | undefined> {
  return {
    TH_PUBLIC_ORIGIN: 'https://www.example.test',
    TH_ISSUER: 'https://idp.example.test',
    TH_CLIENT_ID: 'spa-client',
    TH_CLIENT_SECRET: randomSecret(),
    TH_COOKIE_KEYS: TEST_KEYS,
    ...overrides,
  };
}

export function testConfig(overrides: RawConfig = {}): Config {
  return parseConfig(baseRaw(overrides));
}
