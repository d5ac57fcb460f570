/**
 * The revocation records' keys: hashes of the ids, never an id itself, and the same whichever
 * SHA-256 the platform hands in (Node's synchronous node:crypto one, or Web Crypto's by default),
 * so instances on different platforms sharing one store (Node on AWS beside Lambda@Edge on one
 * DynamoDB table) read each other's records.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SessionStore } from '../../../src/core/ports.js';
import { createRevocations } from '../../../src/core/session/revocation.js';
import { MemoryStore } from '../../../src/stores/memory.js';

/** A real memory store that remembers every key it was asked for. */
function recording(): { store: SessionStore; keys: string[] } {
  const inner = new MemoryStore();
  const keys: string[] = [];
  const store: SessionStore = {
    get: (key) => (keys.push(key), inner.get(key)),
    put: (key, value, ttl) => (keys.push(key), inner.put(key, value, ttl)),
    compareAndSet: (key, expected, value, ttl) => (keys.push(key), inner.compareAndSet(key, expected, value, ttl)),
    delete: (key) => (keys.push(key), inner.delete(key)),
  };
  return { store, keys };
}

const nodeDigest = (id: string) => createHash('sha256').update(id).digest('base64url');

async function everyOperation(digest?: (id: string) => string): Promise<{ keys: string[]; revoked: boolean[] }> {
  const { store, keys } = recording();
  const revocations = createRevocations({ store, cacheTtlMs: 0, now: Date.now, digest });
  const session = { id: 'session-1', idpSid: 'idp-sid-1', sub: 'user-1', loginAt: 1_000 };
  const revoked = [await revocations.isRevoked(session)];
  await revocations.revokeSession('session-2', 60);
  await revocations.revokeIdpSession('idp-sid-1', 60);
  await revocations.revokeSubject('user-1', 2_000, 60);
  revoked.push(await revocations.firstUse('jti-1', 60), await revocations.firstUse('jti-1', 60));
  revoked.push(await revocations.isRevoked(session), await revocations.isRevoked({ id: 'session-3' }));
  return { keys, revoked };
}

describe('revocation keys', () => {
  it('are the same with node:crypto as with Web Crypto, and the records work alike', async () => {
    const web = await everyOperation();
    const node = await everyOperation(nodeDigest);
    expect(node).toEqual(web);
    expect(web.revoked).toEqual([false, true, false, true, false]);
  });

  it('are hashes: no id appears in any key', async () => {
    const { keys } = await everyOperation(nodeDigest);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatch(/^rv:[siuj]:[A-Za-z0-9_-]{43}$/);
      for (const id of ['session-1', 'session-2', 'idp-sid-1', 'user-1', 'jti-1']) expect(key).not.toContain(id);
    }
    expect(keys).toContain(`rv:s:${nodeDigest('session-2')}`);
  });
});
