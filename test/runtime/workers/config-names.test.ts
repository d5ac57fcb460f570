/**
 * Inside workerd: a Worker whose bindings misspell a setting answers every request with a JSON 500
 * naming the misspelt and the right name, and logs the "did you mean"; a setting only Lambda@Edge
 * reads is refused the same way.
 */
import { describe, expect, it } from 'vitest';
import { createWorker } from '../../../src/adapters/workers/worker.js';
import { randomSecret } from '../../helpers/config.js';
import { PUBLIC_ORIGIN } from '../../helpers/spa-client.js';

const clientSecret = randomSecret();
const cookieKeys = `k1:${randomSecret()}`;
const valid: Record<string, string> = {
  TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
  TH_ISSUER: 'https://idp.example.test',
  TH_CLIENT_ID: 'spa',
  TH_CLIENT_SECRET: clientSecret,
  TH_COOKIE_KEYS: cookieKeys,
};

async function answer(bindings: Record<string, string>): Promise<{ status: number; body: Record<string, string>; text: string; log: { msg: string; variables: string[]; problems: string[] } }> {
  const logs: string[] = [];
  const worker = createWorker({ logSink: (line) => logs.push(line) });
  const response = await worker.fetch(new Request(`${PUBLIC_ORIGIN}/oauth-agent/session`), bindings);
  expect(response.headers.get('content-type')).toBe('application/json');
  const text = await response.text();
  expect(logs).toHaveLength(1);
  return { status: response.status, body: JSON.parse(text) as Record<string, string>, text, log: JSON.parse(logs[0]!) as never };
}

describe('a Worker with a misspelt setting', () => {
  it.each([
    ['TH_ISUER', 'TH_ISSUER'],
    ['TH_API_ROUTE', 'TH_API_ROUTES'],
    ['TH_COOKIE_KEY', 'TH_COOKIE_KEYS'],
  ])('answers 500 naming %s and %s, and logs the "did you mean"', async (typo, meant) => {
    const bindings: Record<string, string> = { ...valid, [typo]: valid[meant] ?? '/api=https://api.example.test' };
    if (typo !== 'TH_API_ROUTE') delete bindings[meant];
    const { status, body, text, log } = await answer(bindings);
    expect(status).toBe(500);
    expect(body['error_code']).toBe('server_error');
    expect(body['detailed_error']).toContain(typo);
    expect(body['detailed_error']).toContain(meant);
    expect(log.msg).toBe('config_invalid');
    expect(log.problems).toContain(`${typo} is not a setting: did you mean ${meant}?`);
    expect(text).not.toContain(clientSecret);
    expect(text).not.toContain(cookieKeys.slice(3));
  });

  it('refuses TH_KMS_KEY_ID, which only Lambda@Edge reads', async () => {
    const { status, body, log } = await answer({ ...valid, TH_KMS_KEY_ID: 'alias/edge-token-handler' });
    expect(status).toBe(500);
    expect(body['detailed_error']).toContain('TH_KMS_KEY_ID');
    expect(log.problems).toEqual(['TH_KMS_KEY_ID is read only on Lambda@Edge, not on Workers; remove it here']);
  });

  it('starts with the same bindings spelt right', async () => {
    const worker = createWorker({ logSink: () => {} });
    const response = await worker.fetch(new Request(`${PUBLIC_ORIGIN}/oauth-agent/session`), { ...valid, UNRELATED_BINDING: 'ignored' });
    expect(response.status).toBe(200);
  });
});
