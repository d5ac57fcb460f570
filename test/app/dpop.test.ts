/**
 * DPoP (RFC 9449, TH_DPOP=on) end to end against the real oidc-provider, which binds the client's
 * tokens and demands its nonce, and the example API, which verifies every proof and demands its
 * own nonce: login and refresh with proofs (each nonce challenge retried once), every proxied call
 * with `Authorization: DPoP` and a fresh proof for the URL actually called, the API's nonce
 * remembered per upstream, a call with a body never sent twice, and no private key anywhere.
 *
 * Runs twice: in Node against the Node app, and in the workerd project (vitest.config.ts,
 * SHARED_SUITES) against the Worker inside workerd. Lambda@Edge: test/runtime/lambda-edge/dpop.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64url, calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from 'jose';
import { createSealer, type Sealer } from '../../src/core/session/cookie-seal.js';
import type { AccessTokenData } from '../../src/core/session/session-cookies.js';
import { SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

let stack: TestStack;
let sealer: Sealer;
beforeAll(async () => {
  stack = await startTestStack({ dpop: { providerNonce: true, apiNonce: true } });
  sealer = createSealer(stack.config.cookieKeys, Date.now);
});
afterAll(async () => {
  await stack?.close();
});

const AT = '__Host-th-at';

async function loggedIn(app = stack.app): Promise<SpaClient> {
  const spa = new SpaClient(app);
  const end = await spa.login();
  expect(end.status, JSON.stringify(end.body)).toBe(200);
  return spa;
}

/** What the access-token cookie holds, unsealed as the token handler opens it. */
async function sealedSession(spa: SpaClient): Promise<AccessTokenData> {
  const opened = await sealer.unseal<AccessTokenData>('at', spa.cookies.get(AT)?.value);
  expect(opened, 'the access-token cookie unseals').toBeDefined();
  return opened!.data;
}

async function sha256(text: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

/** The requests that reached the example API from `from` on. */
const arrived = (from: number) => stack.upstreamRequests.slice(from);

describe('DPoP, end to end', () => {
  it('binds the token to a key made at login, and proves it on every proxied call', async () => {
    const spa = await loggedIn();
    const session = await sealedSession(spa);
    expect(Object.keys(session.k ?? {}).sort()).toEqual(['d', 'x', 'y']);
    // The private key is in the cookie only sealed.
    expect(spa.cookies.get(AT)!.value.includes(session.k!.d)).toBe(false);
    const jwk = { kty: 'EC', crv: 'P-256', x: session.k!.x, y: session.k!.y };
    const thumbprint = await calculateJwkThumbprint(jwk);
    expect(decodeJwt(session.t)['cnf']).toEqual({ jkt: thumbprint });

    // The first call meets the API's nonce challenge and is sent once more with the nonce.
    const from = stack.upstreamRequests.length;
    const whoami = await spa.json('GET', '/api/whoami?verbose=1#frag');
    expect(whoami.status, JSON.stringify(whoami.body)).toBe(200);
    expect(whoami.body['sub']).toBe('demo');
    const sends = arrived(from);
    expect(sends.map((r) => r.path)).toEqual(['/api/whoami', '/api/whoami']);
    const proofs = sends.map((r) => r.headers['dpop']!);
    for (const [i, request] of sends.entries()) {
      expect(request.headers['authorization']).toBe(`DPoP ${session.t}`);
      const header = decodeProtectedHeader(proofs[i]!);
      expect(header).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk });
      const claims = decodeJwt(proofs[i]!);
      expect(Object.keys(claims).sort()).toEqual(i === 0 ? ['ath', 'htm', 'htu', 'iat', 'jti'] : ['ath', 'htm', 'htu', 'iat', 'jti', 'nonce']);
      expect(claims).toMatchObject({ htm: 'GET', htu: `${stack.api.url}/api/whoami`, ath: await sha256(session.t) });
      expect(Math.abs((claims.iat as number) - Date.now() / 1000)).toBeLessThan(60);
      expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(decodeJwt(proofs[0]!).jti).not.toBe(decodeJwt(proofs[1]!).jti);
    const nonce = decodeJwt(proofs[1]!)['nonce'];
    expect(typeof nonce).toBe('string');

    // The nonce is remembered for that upstream: the next call goes once, with it and a new jti.
    const next = stack.upstreamRequests.length;
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expect(arrived(next)).toHaveLength(1);
    const third = decodeJwt(arrived(next)[0]!.headers['dpop']!);
    expect(third['nonce']).toBe(nonce);
    expect(proofs.map((p) => decodeJwt(p).jti)).not.toContain(third.jti);
  });

  it('refreshes with a proof: the new token is bound to the same key, and works at once', async () => {
    const spa = await loggedIn();
    const before = await sealedSession(spa);
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    const refreshed = await spa.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const after = await sealedSession(spa);
    expect(after.t).not.toBe(before.t);
    expect(after.k).toEqual(before.k);
    expect(decodeJwt(after.t)['cnf']).toEqual(decodeJwt(before.t)['cnf']);
    const from = stack.upstreamRequests.length;
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expect(arrived(from)).toHaveLength(1);
    expect(arrived(from)[0]!.headers['authorization']).toBe(`DPoP ${after.t}`);
    expect(decodeJwt(arrived(from)[0]!.headers['dpop']!)['ath']).toBe(await sha256(after.t));
  });

  it('answers the provider\'s nonce challenge once on a fresh instance, at login and at refresh', async () => {
    // A new instance knows no provider nonce: its first token request is refused use_dpop_nonce.
    const spa = await loggedIn(stack.makeApp());
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    const fresh = new SpaClient(stack.makeApp());
    for (const [name, cookie] of spa.cookies) fresh.cookies.set(name, cookie);
    const refreshed = await fresh.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
  });

  it('gives each session its own key', async () => {
    const [a, b] = [await loggedIn(), await loggedIn()];
    expect((await sealedSession(a)).k!.x).not.toBe((await sealedSession(b)).k!.x);
  });

  it('the example API refuses a replayed proof, a proof for another URL or method, and the token as a bearer token', async () => {
    const spa = await loggedIn();
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    const sent = stack.upstreamRequests.at(-1)!;
    const headers = { authorization: sent.headers['authorization']!, dpop: sent.headers['dpop']! };
    const refusal = async (response: Response) => {
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
      return ((await response.json()) as { error_description: string }).error_description;
    };
    // Sent straight to the API, past the token handler, as a thief of both headers would.
    expect(await refusal(await fetch(`${stack.api.url}/api/whoami`, { headers }))).toBe('DPoP proof replayed');
    expect(await refusal(await fetch(`${stack.api.url}/api/echo`, { headers }))).toBe('DPoP proof htu mismatch');
    expect(await refusal(await fetch(`${stack.api.url}/api/whoami`, { method: 'DELETE', headers }))).toBe('DPoP proof htm mismatch');
    const bearer = await fetch(`${stack.api.url}/api/whoami`, { headers: { authorization: headers.authorization.replace(/^DPoP /, 'Bearer '), dpop: headers.dpop } });
    expect(bearer.status).toBe(401);
    expect(bearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });

  it('sends a bodiless DELETE once more on a nonce challenge, never a call with a body', async () => {
    const spa = await loggedIn();
    // A fresh instance knows no nonce yet.
    const fresh = new SpaClient(stack.makeApp());
    for (const [name, cookie] of spa.cookies) fresh.cookies.set(name, cookie);

    let from = stack.upstreamRequests.length;
    const post = await fresh.json('POST', '/api/echo', { body: 'x', headers: { 'content-type': 'text/plain' } });
    // The body streamed through once; the API's challenge reaches the SPA as it came.
    expect(post.status).toBe(401);
    expect(post.body).toMatchObject({ error: 'use_dpop_nonce' });
    expect(post.response.headers.get('www-authenticate')).toMatch(/^DPoP error="use_dpop_nonce"/);
    expect(arrived(from).map((r) => r.method)).toEqual(['POST']);
    // It taught the instance the nonce: the SPA's next try goes through at once.
    from = stack.upstreamRequests.length;
    const again = await fresh.json('POST', '/api/echo', { body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ method: 'POST', authorization: 'valid', body_size: 1 });
    expect(arrived(from)).toHaveLength(1);

    const other = new SpaClient(stack.makeApp());
    for (const [name, cookie] of spa.cookies) other.cookies.set(name, cookie);
    from = stack.upstreamRequests.length;
    const del = await other.json('DELETE', '/api/echo/1');
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ method: 'DELETE', authorization: 'valid', body_size: 0 });
    expect(arrived(from).map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
    expect(decodeJwt(arrived(from)[1]!.headers['dpop']!)).toMatchObject({ htm: 'DELETE', htu: `${stack.api.url}/api/echo/1` });
  });

  it('takes an access-token cookie whose key is not a key for no session (never a failed signature)', async () => {
    const spa = await loggedIn();
    const opened = await sealer.unseal<AccessTokenData>('at', spa.cookies.get(AT)?.value);
    const broken = await sealer.seal('at', { ...opened!.data, k: { ...opened!.data.k, d: 'not-a-key' } }, opened!.expiresAt);
    spa.cookies.set(AT, { value: broken, path: '/' });
    const from = stack.upstreamRequests.length;
    const answer = await spa.json('GET', '/api/whoami');
    expect(answer.status).toBe(401);
    expect(answer.body['error_code']).toBe('unauthorized_request');
    expect(arrived(from)).toEqual([]);
  });

  it('drops a DPoP header the browser sends, and signs its own', async () => {
    const spa = await loggedIn();
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    const from = stack.upstreamRequests.length;
    const planted = 'eyJhbGciOiJub25lIn0.eyJ9.';
    expect((await spa.json('GET', '/api/echo', { headers: { dpop: planted } })).status).toBe(200);
    expect(arrived(from)[0]!.headers['dpop']).not.toBe(planted);
    expect(decodeProtectedHeader(arrived(from)[0]!.headers['dpop']!).alg).toBe('ES256');
  });

  it('leaks no private key, token or secret into a log line, an answer or a proof', async () => {
    const spa = await loggedIn();
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    const session = await sealedSession(spa);
    const secrets = [session.k!.d, session.t, stack.clientSecret, ...stack.cookieKeys.split(',').map((k) => k.split(':')[1]!)];
    const logs = stack.logs.join('\n');
    const answers = spa.responses.map((r) => JSON.stringify([r.headers.filter(([k]) => k !== 'set-cookie'), r.body])).join('\n');
    const proofs = stack.upstreamRequests.flatMap((r) => (r.headers['dpop'] ? [r.headers['dpop']] : []));
    expect(proofs.length).toBeGreaterThan(2);
    for (const secret of secrets) {
      for (let i = 0; i + 16 <= secret.length; i += 16) {
        const piece = secret.slice(i, i + 16);
        expect(logs.includes(piece), 'a secret reached the log').toBe(false);
        expect(answers.includes(piece), 'a secret reached an answer').toBe(false);
      }
    }
    const d = session.k!.d;
    for (const proof of proofs) {
      expect(Object.keys(decodeProtectedHeader(proof).jwk ?? {}).sort()).toEqual(['crv', 'kty', 'x', 'y']);
      expect(proof.includes(d)).toBe(false);
    }
  });
});
