/**
 * The proxy's token step, by the session (RFC 9449 §7): a token bound to the session's key goes as
 * `Authorization: DPoP <token>` (never Bearer, even after TH_DPOP is turned off, until a refresh
 * brings a bearer token), with a fresh proof on each send signed with the session's key for
 * the exact upstream method and URL (`htm`, `htu`, `ath`, `jti`, `iat`, and the server's nonce).
 * Each upstream's last `DPoP-Nonce` is kept per origin for the next proof; a `use_dpop_nonce`
 * challenge with a new nonce asks the pipeline for one more send (§9), never a second.
 */
import type { Agent } from '../core/agent/agent.js';
import { createNonceMemory, isUseDpopNonce } from '../core/oidc/dpop.js';
import { usableAccessToken, type TokenStep } from './proxy-pipeline.js';

export function dpopFromCookie(agent: Agent): TokenStep {
  // Per instance (a Node process, a Worker isolate); the origins are the configured upstreams'.
  const nonces = createNonceMemory();
  return async (route, headers) => {
    if (route.public) return undefined;
    const at = await usableAccessToken(agent, headers);
    const key = at.dpopKey;
    // A bearer token: TH_DPOP off, or a session from before it was turned on (until its next refresh).
    if (!key) return `Bearer ${at.token}`;
    let sentNonce: string | undefined;
    return {
      authorization: `DPoP ${at.token}`,
      async headersFor(call) {
        sentNonce = nonces.get(new URL(call.url).origin);
        const proof = await agent.oidc.dpop.proof(key, { htm: call.method, url: call.url, accessToken: at.token, ...(sentNonce !== undefined ? { nonce: sentNonce } : {}) });
        return { dpop: proof };
      },
      answered(call, answer) {
        const nonce = nonces.learn(new URL(call.url).origin, answer.headers.get('dpop-nonce'));
        // Only a new nonce is worth a second send: the same one again would only be refused again.
        return answer.status === 401 && nonce !== undefined && nonce !== sentNonce && isUseDpopNonce(answer.headers.get('www-authenticate'));
      },
    };
  };
}
