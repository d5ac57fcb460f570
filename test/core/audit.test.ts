/**
 * The audit schema in its three places kept in step: src/core/audit.ts (the events the code
 * knows, the fields it writes), docs/audit-event.schema.json, and the README's generated tables.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AUDIT_BEGIN, AUDIT_END, readAuditSchema, withAuditDocs } from '../../scripts/audit-docs.js';
import { README } from '../../scripts/config-docs.js';
import { AUDIT_EVENTS, AUDIT_FIELDS, auditSessionHash } from '../../src/core/audit.js';
import { auditProblems } from '../helpers/audit-lines.js';

describe('the audit schema', () => {
  it('documents exactly the events the code knows, with the same words', () => {
    const schema = readAuditSchema();
    expect(Object.fromEntries((schema.properties['event']!.oneOf ?? []).map((e) => [e.const, e.description]))).toEqual(AUDIT_EVENTS);
  });

  it('has exactly the fields the code writes, in its order', () => {
    expect(Object.keys(readAuditSchema().properties)).toEqual([...AUDIT_FIELDS]);
  });

  it('is the README table (run npm run docs:audit when this fails)', async () => {
    const readme = await readFile(README, 'utf8');
    expect(readme).toContain(AUDIT_BEGIN);
    expect(readme).toContain(AUDIT_END);
    expect(withAuditDocs(readme)).toBe(readme);
    for (const event of Object.keys(AUDIT_EVENTS)) expect(readme).toContain(`| \`${event}\` |`);
  });

  it('refuses lines the schema does not describe', () => {
    const valid = { type: 'audit', time: '2026-12-01T16:00:00.000Z', level: 'info', msg: 'audit', event: 'login', outcome: 'success', request_id: 'r1' };
    expect(auditProblems(valid)).toEqual([]);
    expect(auditProblems({ ...valid, access_token: 'eyJ' })).toEqual(['access_token is not in the schema']);
    expect(auditProblems({ ...valid, event: 'made_up' })).toEqual(['event made_up is not a documented value']);
    expect(auditProblems({ ...valid, session: 'the-id-itself' })).toHaveLength(1);
    const { request_id: _, ...noId } = valid;
    expect(auditProblems(noId)).toEqual(['request_id missing']);
  });
});

describe('auditSessionHash', () => {
  it('is the same for one id, differs between ids, and does not contain the id', async () => {
    const id = 'AAECAwQFBgcICQoLDA0ODw';
    const hash = await auditSessionHash(id);
    expect(hash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await auditSessionHash(id)).toBe(hash);
    expect(await auditSessionHash('AAECAwQFBgcICQoLDA0OEA')).not.toBe(hash);
    expect(hash).not.toBe(id);
    // Not a bare SHA-256 of the id: labelled, so it equals no other hash of it.
    const bare = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(id)));
    expect(hash).not.toBe(Buffer.from(bare.subarray(0, 16)).toString('base64url'));
  });
});
