/**
 * Decrypts the Lambda@Edge configuration's secret settings with AWS KMS. Only the Lambda@Edge
 * entry reaches this file (and it loads it only when a setting is encrypted): the AWS SDK never
 * ships to the Workers or Node builds.
 */
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import type { Decrypt, SecretSetting } from './from-bundle.js';

/**
 * The key lives in us-east-1 next to the function. The function itself runs in whichever Region is
 * nearest the viewer (`AWS_REGION` says which), so the Region is pinned, never taken from there.
 */
export const KMS_REGION = 'us-east-1';

/**
 * Each ciphertext is bound to the setting it was made for: KMS refuses to decrypt a client secret's
 * ciphertext pasted in as the cookie keys. An IAM condition can also pin `kms:EncryptionContext:app`.
 */
export function encryptionContext(setting: SecretSetting): Record<string, string> {
  return { app: 'edge-token-handler', setting };
}

export interface KmsDecrypterOptions {
  /** Key ARN, key id or alias: Decrypt then refuses ciphertext made under any other key. */
  readonly keyId?: string | undefined;
  /**
   * Test builds only: a loopback KMS endpoint, given to the build as `--test-kms-endpoint`. It is
   * never read from the configuration file, so a deployed function always talks to the real KMS.
   */
  readonly endpoint?: string | undefined;
}

export class SecretDecryptionError extends Error {
  override readonly name = 'SecretDecryptionError';
}

/** A decrypter for `resolveEdgeConfig`. Errors name the setting and KMS's exception, never key material. */
export function createKmsDecrypter(options: KmsDecrypterOptions = {}): Decrypt {
  const client = new KMSClient({
    region: KMS_REGION,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    // A cold start waits on this call; bound it well inside the origin-request timeout.
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 2000, requestTimeout: 4000 },
  });
  return async ({ name, ciphertext }) => {
    let plaintext: Uint8Array | undefined;
    try {
      const output = await client.send(
        new DecryptCommand({
          CiphertextBlob: Buffer.from(ciphertext, 'base64'),
          EncryptionContext: encryptionContext(name),
          ...(options.keyId ? { KeyId: options.keyId } : {}),
        }),
      );
      plaintext = output.Plaintext;
    } catch (cause) {
      throw new SecretDecryptionError(`KMS could not decrypt ${name}`, { cause });
    }
    if (!plaintext || plaintext.byteLength === 0) throw new SecretDecryptionError(`KMS returned no plaintext for ${name}`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
    } catch {
      throw new SecretDecryptionError(`${name} did not decrypt to UTF-8 text`);
    }
  };
}
