/**
 * The KMS path with the real @aws-sdk/client-kms against a local endpoint speaking the KMS JSON
 * protocol (fake-kms.ts): serialisation, SigV4 signing, the us-east-1 scope and error parsing run
 * for real. Then the built handler when decryption fails: every request a JSON 500, a log line,
 * and no second attempt within the cold start.
 */
import { createServer } from 'node:net';
import type { CloudFrontResultResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encryptSecret } from '../../../src/cli/encrypt-secret.js';
import { SecretDecryptionError, createKmsDecrypter, encryptionContext } from '../../../src/config/kms-secrets.js';
import { ConfigError } from '../../../src/config/parse.js';
import { randomSecret } from '../../helpers/config.js';
import { loadBuiltHandler, originRequestEvent } from './cloudfront.js';
import { FAKE_CREDENTIALS, startFakeKms, type FakeKms } from './fake-kms.js';

let kms: FakeKms;
const savedEnv = { ...process.env };
const logs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  kms = await startFakeKms();
  process.env['AWS_ACCESS_KEY_ID'] = FAKE_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = FAKE_CREDENTIALS.secretAccessKey;
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(String(line)));
});

afterAll(async () => {
  vi.restoreAllMocks();
  process.env = savedEnv;
  for (const cleanup of cleanups) await cleanup();
  await kms?.close();
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const cookieKeys = `k1:${randomSecret()}`;
const clientSecret = randomSecret();

function settings(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    TH_PUBLIC_ORIGIN: 'https://www.example.test',
    // Never contacted: these tests stop at the configuration.
    TH_ISSUER: 'http://127.0.0.1:9/unused',
    TH_CLIENT_ID: 'spa',
    TH_CLIENT_SECRET: `kms:${kms.encrypt(clientSecret, encryptionContext('TH_CLIENT_SECRET'))}`,
    TH_COOKIE_KEYS: `kms:${kms.encrypt(cookieKeys, encryptionContext('TH_COOKIE_KEYS'))}`,
    ...overrides,
  };
}

const sessionEvent = () => originRequestEvent({ method: 'GET', target: '/oauth-agent/session' });

describe('KMS decryption with the real SDK client against a local KMS endpoint', () => {
  it('decrypts, signed for us-east-1/kms, with the setting as encryption context and the key pinned', async () => {
    const ciphertext = kms.encrypt('the client secret', encryptionContext('TH_CLIENT_SECRET'));
    const before = kms.calls.length;
    const decrypt = createKmsDecrypter({ endpoint: kms.url, keyId: kms.keyArn });
    expect(await decrypt({ name: 'TH_CLIENT_SECRET', ciphertext })).toBe('the client secret');
    const [call] = kms.calls.slice(before);
    expect(call!.target).toBe('TrentService.Decrypt');
    expect(call!.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(String(call!.headers['authorization'])).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAFAKEKMS000000001\/\d{8}\/us-east-1\/kms\/aws4_request, /);
    expect(call!.body).toEqual({ CiphertextBlob: ciphertext, KeyId: kms.keyArn, EncryptionContext: { app: 'edge-token-handler', setting: 'TH_CLIENT_SECRET' } });
  });

  it('refuses a ciphertext made for another setting, or under another key', async () => {
    const ciphertext = kms.encrypt('the client secret', encryptionContext('TH_CLIENT_SECRET'));
    const decrypt = createKmsDecrypter({ endpoint: kms.url });
    const swapped = await decrypt({ name: 'TH_COOKIE_KEYS', ciphertext }).catch((e: unknown) => e);
    expect(swapped).toBeInstanceOf(SecretDecryptionError);
    expect((swapped as Error).message).toBe('KMS could not decrypt TH_COOKIE_KEYS');
    expect(((swapped as Error).cause as Error).name).toBe('InvalidCiphertextException');

    const otherKey = await createKmsDecrypter({ endpoint: kms.url, keyId: 'alias/some-other-key' })({ name: 'TH_CLIENT_SECRET', ciphertext }).catch((e: unknown) => e);
    expect(((otherKey as Error).cause as Error).name).toBe('IncorrectKeyException');
  });

  it('reports AccessDeniedException by name, without the ciphertext', async () => {
    const ciphertext = kms.encrypt('x'.repeat(40), encryptionContext('TH_COOKIE_KEYS'));
    kms.denyDecrypt = true;
    try {
      const error = (await createKmsDecrypter({ endpoint: kms.url })({ name: 'TH_COOKIE_KEYS', ciphertext }).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(SecretDecryptionError);
      expect(error.message).toBe('KMS could not decrypt TH_COOKIE_KEYS');
      expect((error.cause as Error).name).toBe('AccessDeniedException');
      expect(`${error.message} ${(error.cause as Error).message}`).not.toContain(ciphertext);
    } finally {
      kms.denyDecrypt = false;
    }
  });

  it('fails when the endpoint cannot be reached', async () => {
    const decrypt = createKmsDecrypter({ endpoint: `http://127.0.0.1:${await closedPort()}` });
    const error = (await decrypt({ name: 'TH_CLIENT_SECRET', ciphertext: 'AQID' }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(SecretDecryptionError);
    expect(String((error.cause as { code?: string }).code)).toBe('ECONNREFUSED');
  });
});

describe('the built handler when its secrets cannot be decrypted', () => {
  it('answers every request with a JSON 500 and logs why, asking KMS only once', async () => {
    kms.denyDecrypt = true;
    logs.length = 0;
    const before = kms.calls.length;
    try {
      const edge = await loadBuiltHandler(settings(), kms.url);
      cleanups.push(edge.remove);
      const decrypts = () => kms.calls.slice(before).filter((c) => c.target === 'TrentService.Decrypt').length;
      let afterFirst = 0;
      for (let i = 0; i < 3; i++) {
        const response = (await edge.handler(sessionEvent())) as CloudFrontResultResponse;
        expect(response.status).toBe('500');
        expect(response.headers?.['content-type']).toEqual([{ key: 'content-type', value: 'application/json' }]);
        expect(JSON.parse(response.body!)).toEqual({ error_code: 'server_error', detailed_error: 'The token handler failed to start' });
        if (i === 0) afterFirst = decrypts();
      }
      // Two encrypted settings, decrypted in parallel for the cold start (the second may not go out
      // once the first is refused); later requests never ask again.
      expect(afterFirst).toBeGreaterThanOrEqual(1);
      expect(afterFirst).toBeLessThanOrEqual(2);
      expect(decrypts()).toBe(afterFirst);
      const startup = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'startup_failed');
      expect(startup).toHaveLength(1);
      expect(startup[0]).toMatchObject({ level: 'error', reason: 'config_unavailable' });
      expect(String(startup[0]!['cause'])).toMatch(/^SecretDecryptionError: KMS could not decrypt TH_(COOKIE_KEYS|CLIENT_SECRET) <- AccessDeniedException/);
      // Once per cold start, as on Workers (app/startup-failure.ts): the answer cannot change until a new deployment.
      expect(logs).toHaveLength(1);
    } finally {
      kms.denyDecrypt = false;
    }
  });

  it('answers 500 when KMS cannot be reached', async () => {
    const edge = await loadBuiltHandler(settings(), `http://127.0.0.1:${await closedPort()}`);
    cleanups.push(edge.remove);
    const response = (await edge.handler(sessionEvent())) as CloudFrontResultResponse;
    expect(response.status).toBe('500');
    expect(JSON.parse(response.body!)).toMatchObject({ error_code: 'server_error' });
  });

  it('answers 500 when a decrypted value is not a valid setting, naming the setting and never the value', async () => {
    logs.length = 0;
    const weak = 'k1:too-short';
    const edge = await loadBuiltHandler(settings({ TH_COOKIE_KEYS: `kms:${kms.encrypt(weak, encryptionContext('TH_COOKIE_KEYS'))}` }), kms.url);
    cleanups.push(edge.remove);
    const response = (await edge.handler(sessionEvent())) as CloudFrontResultResponse;
    expect(response.status).toBe('500');
    const startup = logs.find((l) => l.includes('"msg":"config_invalid"'))!;
    expect(startup).toContain('TH_COOKIE_KEYS key \\"k1\\" is too short');
    expect(logs.join('\n')).not.toContain('too-short');
  });

  it('works once decryption succeeds (the same build path, KMS allowed)', async () => {
    const edge = await loadBuiltHandler(settings(), kms.url);
    cleanups.push(edge.remove);
    const response = (await edge.handler(sessionEvent())) as CloudFrontResultResponse;
    expect(response.status).toBe('200');
    expect(JSON.parse(response.body!)).toEqual({ is_logged_in: false });
  });
});

describe('npm run edge:encrypt-secret', () => {
  it('encrypts a value for its setting, which the function then decrypts', async () => {
    const value = `k2:${randomSecret()},k1:${randomSecret()}`;
    const encrypted = await encryptSecret({ setting: 'TH_COOKIE_KEYS', value, keyId: kms.aliasName, endpoint: kms.url });
    expect(encrypted).toMatch(/^kms:[A-Za-z0-9+/]+={0,2}$/);
    expect(encrypted).not.toContain(value);
    const decrypted = await createKmsDecrypter({ endpoint: kms.url, keyId: kms.aliasName })({ name: 'TH_COOKIE_KEYS', ciphertext: encrypted.slice('kms:'.length) });
    expect(decrypted).toBe(value);
  });

  it('refuses, before calling KMS, a value parseConfig would refuse or a setting that is not secret', async () => {
    const before = kms.calls.length;
    const weak = await encryptSecret({ setting: 'TH_COOKIE_KEYS', value: 'k1:short', endpoint: kms.url }).catch((e: unknown) => e);
    expect(weak).toBeInstanceOf(ConfigError);
    expect((weak as ConfigError).problems).toEqual(['TH_COOKIE_KEYS key "k1" is too short: each secret needs at least 32 characters']);
    await expect(encryptSecret({ setting: 'TH_ISSUER', value: 'https://x', endpoint: kms.url })).rejects.toThrow(/--setting must be one of/);
    expect(kms.calls.length).toBe(before);
  });
});
