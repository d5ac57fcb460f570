/**
 * The token and revocation endpoints' error mapping, with an injected fetch standing in for the
 * IdP (TEST DOUBLE: it answers each request with the reply a test gives it, or fails to connect).
 * The same mapping runs against a whole hostile provider in test/attack/hostile-provider.test.ts;
 * these cases pin the closed sets the log's reasons come from.
 */
import { describe, expect, it } from 'vitest';
import type * as oauth from 'oauth4webapi';
import { TokenHandlerError } from '../../../src/core/errors.js';
import { createClientAuthentication } from '../../../src/core/oidc/client-auth.js';
import { createIdpFetch } from '../../../src/core/oidc/idp-fetch.js';
import { createTokenEndpoint } from '../../../src/core/oidc/token-endpoint.js';
import { testConfig } from '../../helpers/config.js';
import { ISSUER } from './fake-idp.js';

const config = testConfig({ TH_ISSUER: ISSUER, TH_CLIENT_ID: 'client-1' });
const AS: oauth.AuthorizationServer = { issuer: ISSUER, token_endpoint: `${ISSUER}/token`, revocation_endpoint: `${ISSUER}/revoke` };

function endpoint(reply: () => Response) {
  const requests: string[] = [];
  const fetchFn = (async (input: RequestInfo | URL) => {
    requests.push(new URL(String(input instanceof Request ? input.url : input)).pathname);
    return reply();
  }) as typeof fetch;
  const idp = createIdpFetch(config, fetchFn);
  return { tokens: createTokenEndpoint(config, { idp, credentials: createClientAuthentication(config, Date.now) }), requests };
}

const json = (status: number, body: unknown) => () => Response.json(body, { status });

async function refused(promise: Promise<unknown>): Promise<Pick<TokenHandlerError, 'status' | 'code' | 'reason'>> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(TokenHandlerError);
  const { status, code, reason } = error as TokenHandlerError;
  return { status, code, reason };
}

describe('refresh', () => {
  it.each([
    ['a registered OAuth error by name', json(400, { error: 'invalid_client' }), { status: 400, code: 'authorization_error', reason: 'token_endpoint_invalid_client' }],
    ['an unregistered OAuth error as other', json(400, { error: 'made_up_code' }), { status: 400, code: 'authorization_error', reason: 'token_endpoint_other' }],
    ['invalid_grant as the end of the session', json(400, { error: 'invalid_grant' }), { status: 401, code: 'session_expired', reason: 'refresh_invalid_grant' }],
    ['a 4xx without an OAuth body by its status', () => new Response('<html>no</html>', { status: 418 }), { status: 400, code: 'authorization_error', reason: 'token_endpoint_418' }],
    ['a 5xx by its status', () => new Response('', { status: 599 }), { status: 502, code: 'authorization_server_error', reason: 'token_endpoint_599' }],
    ['a 200 that is no token response', () => new Response('<html></html>', { status: 200 }), { status: 502, code: 'authorization_server_error', reason: 'token_response_malformed' }],
    ['a token response breaking a rule', json(200, { access_token: 'a', token_type: 'Bearer', expires_in: -1 }), { status: 400, code: 'invalid_request', reason: 'token_response_invalid' }],
  ])('maps %s', async (_name, reply, expected) => {
    expect(await refused(endpoint(reply).tokens.refresh(AS, 'rt', {}))).toEqual(expected);
  });

  it('maps a refused connection to 502 token_endpoint_unreachable', async () => {
    const { tokens } = endpoint(() => {
      throw new TypeError('fetch failed');
    });
    expect(await refused(tokens.refresh(AS, 'rt', {}))).toEqual({ status: 502, code: 'authorization_server_error', reason: 'token_endpoint_unreachable' });
  });
});

describe('the code exchange', () => {
  it('refuses an authorization response for another state before calling the token endpoint', async () => {
    const { tokens, requests } = endpoint(json(200, {}));
    const callback = new URLSearchParams({ code: 'c', state: 'other' });
    expect(await refused(tokens.exchangeCode(AS, callback, { state: 's', nonce: 'n', codeVerifier: 'v' }))).toEqual({
      status: 400, code: 'invalid_request', reason: 'authorization_response_invalid',
    });
    expect(requests).toEqual([]);
  });

  it('names the refusal of the code exchange in its detail', async () => {
    const { tokens } = endpoint(json(400, { error: 'invalid_grant' }));
    const error = await tokens.exchangeCode(AS, new URLSearchParams({ code: 'c', state: 's' }), { state: 's', nonce: 'n', codeVerifier: 'v' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'token_endpoint_invalid_grant', detail: 'The authorization server refused the code exchange' });
  });
});

describe('revocation', () => {
  it.each([
    ['is done', () => new Response(null, { status: 200 }), { revoked: true }],
    ['is refused with a registered error', json(400, { error: 'unsupported_token_type' }), { revoked: false, reason: 'revocation_unsupported_token_type' }],
    ['is refused with anything else', json(400, { error: 'see https://evil.example/' }), { revoked: false, reason: 'revocation_other' }],
    ['fails', () => new Response('', { status: 503 }), { revoked: false, reason: 'revocation_failed' }],
  ])('%s', async (_name, reply, expected) => {
    expect(await endpoint(reply).tokens.revoke(AS, 'rt')).toEqual(expected);
  });

  it('is not attempted without a revocation endpoint', async () => {
    const { tokens, requests } = endpoint(json(200, {}));
    expect(await tokens.revoke({ issuer: ISSUER, token_endpoint: `${ISSUER}/token` }, 'rt')).toEqual({ revoked: false, reason: 'no_revocation_endpoint' });
    expect(requests).toEqual([]);
  });
});
