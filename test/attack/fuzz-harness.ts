/**
 * What the fuzz suites share: the seed and run counts (`npm test` runs a fixed seed with few runs;
 * `npm run fuzz` many more, FUZZ_RUNS and FUZZ_SEED), the hostile provider and the app logged in
 * against it (started per test file), and the generators of odd input. A failure prints the seed
 * and the shrunk counterexample; replay it with FUZZ_SEED=<seed>.
 */

import { afterAll, beforeAll, expect } from 'vitest';
import fc from 'fast-check';
import type { NodeTokenHandler } from '../../src/adapters/node/server.js';
import { startHostileProvider, type HostileProvider } from './hostile-provider.js';
import { CLIENT_ID, REDIRECT_URI, attackApp, cookieKeysFor, createRecorder, hostileLogin, spaFor } from './harness.js';

export const FUZZ_RUNS = Number(process.env['FUZZ_RUNS'] ?? '') || undefined;
export const SEED = Number(process.env['FUZZ_SEED'] ?? '') || 20261125;
/** Runs per property: small in `npm test`, FUZZ_RUNS (scaled by weight) under `npm run fuzz`. */
export const settings = (ciRuns: number, weight = 1) => ({ seed: SEED, numRuns: FUZZ_RUNS ? Math.max(ciRuns, Math.round(FUZZ_RUNS * weight)) : ciRuns });
export const TIMEOUT = FUZZ_RUNS ? 30 * 60_000 : 30_000;

export const recorder = createRecorder();
export const cookieKeys = cookieKeysFor(recorder);
export let provider: HostileProvider;
export let app: NodeTokenHandler;
/** A genuine session: the cookie pairs the browser holds and the tokens inside them. */
export const genuine = { pairs: new Map<string, string>(), accessToken: '', refreshToken: '' };

beforeAll(async () => {
  provider = await startHostileProvider({ clientId: CLIENT_ID, redirectUri: REDIRECT_URI });
  app = attackApp(provider, recorder, cookieKeys);
  const spa = spaFor(app, recorder);
  const login = await hostileLogin(spa);
  expect(login.status).toBe(200);
  for (const [name, cookie] of spa.cookies) genuine.pairs.set(name, cookie.value);
  expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
  genuine.accessToken = provider.upstream.at(-1)!.headers['authorization']!.slice('Bearer '.length);
  const rt = await app.agent.sealer.unseal<{ t: string }>('rt', genuine.pairs.get('__Secure-th-rt'));
  genuine.refreshToken = rt!.data.t;
});
afterAll(async () => {
  await provider?.close();
});

/** What no answer may contain. */
export function secretsIn(text: string): string[] {
  const secrets = [genuine.accessToken, genuine.refreshToken, provider.clientSecret, cookieKeys.slice(3), ...genuine.pairs.values()];
  return secrets.filter((s) => s.length >= 16 && text.includes(s));
}

/** The contract's answer: a 200 JSON body, or the error shape with a known status; never a 500. */
export async function expectContractAnswer(response: Response, allowed: readonly number[]): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect(response.status, text).not.toBe(500);
  expect(allowed, `status ${response.status}: ${text}`).toContain(response.status);
  expect(response.headers.get('content-type')).toBe('application/json');
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = JSON.parse(text) as Record<string, unknown>;
  if (response.status >= 400) {
    expect(Object.keys(body).sort()).toEqual(['detailed_error', 'error_code']);
    expect(body['error_code']).toMatch(/^[\x20-\x7e]{1,64}$/);
    expect(String(body['detailed_error']).length).toBeLessThan(200);
  }
  expect(secretsIn(text)).toEqual([]);
  for (const [, value] of response.headers) if (!value.includes('Max-Age')) expect(secretsIn(value)).toEqual([]);
  return body;
}

export const base64url = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];
export const oddChars = ['*', ' ', '\t', '=', '+', '/', '.', '%', ';', ',', '"', '\\', 'é', '\u2028', '\uff0a'];
export const anyChar = fc.constantFrom(...base64url, ...oddChars);
/** Visible ASCII, space and tab: what a header value may hold. */
export const headerText = (maxLength: number) => fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), '\t'), maxLength });

export type Damage =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; char: string }
  | { kind: 'field'; field: number; op: string; at: number; char: string }
  | { kind: 'append'; text: string }
  | { kind: 'random'; text: string }
  | { kind: 'bytes'; bytes: Uint8Array };

export function applyDamage(value: string, d: Damage): string {
  switch (d.kind) {
    case 'truncate':
      return value.slice(0, d.at % value.length);
    case 'flip': {
      const at = d.at % value.length;
      return value.slice(0, at) + d.char + value.slice(at + 1);
    }
    case 'field': {
      const fields = value.split('*');
      const f = fields[d.field % fields.length]!;
      const at = f.length === 0 ? 0 : d.at % (f.length + (d.op === 'insert' ? 1 : 0));
      fields[d.field % fields.length] = d.op === 'insert' ? f.slice(0, at) + d.char + f.slice(at) : d.op === 'delete' ? f.slice(0, at) + f.slice(at + 1) : f.slice(0, at) + d.char + f.slice(at + 1);
      return fields.join('*');
    }
    case 'append':
      return value + d.text;
    case 'random':
      return d.text;
    case 'bytes':
      return Buffer.from(d.bytes).toString('base64url');
  }
}
