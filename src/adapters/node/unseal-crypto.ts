/**
 * Unsealing's two primitives with node:crypto, synchronously. Web Crypto on Node runs each call as
 * a job on the libuv thread pool; in a busy server those round trips cost several times the HMAC
 * and AES work itself (bench/proxy.ts: session route vs public route). Same OpenSSL primitives;
 * the MAC is compared in constant time, and nothing is decrypted before it matches (cookie-seal.ts).
 */
import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { UnsealCrypto } from '../../core/session/cookie-seal.js';

export const nodeUnsealCrypto: UnsealCrypto = {
  verifyHmacSha256(key, mac, data) {
    const expected = createHmac('sha256', key).update(data).digest();
    return mac.byteLength === expected.byteLength && timingSafeEqual(expected, mac);
  },
  decryptAes256Cbc(key, iv, data) {
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    return Buffer.concat([decipher.update(data), decipher.final()]);
  },
};
