/**
 * Liveness and readiness (contract §8): `GET {agent}/health` answers while the process can serve;
 * `GET {agent}/ready` once the provider's metadata and signing keys are loaded, and no longer once
 * the server is shutting down, and, with a shared session store, while the store does not answer
 * (revocation fails closed without it, so such an instance can serve nothing that needs a session).
 * Neither says more than its status, and neither calls the provider again once it has answered
 * ready: a provider outage must not take every instance out of service (the OIDC client keeps
 * serving its cached metadata).
 */
import type { Hono } from 'hono';
import type { Config } from '../core/types.js';
import type { Agent } from '../core/agent/agent.js';
import type { SessionStore } from '../core/ports.js';
import { TokenHandlerError } from '../core/errors.js';
import { jsonResponse } from './responses.js';
import type { AppEnv, TokenHandlerDeps } from './context.js';

/** Loads the provider's metadata and key set (both cached by the OIDC client); false while either fails. */
export async function loadProvider(agent: Agent): Promise<boolean> {
  try {
    const { jwks } = await agent.oidc.getServer();
    // jose fetches a key set lazily, on the first token to verify; fetch it now, once.
    if (jwks.jwks() === undefined) await jwks.reload();
    return true;
  } catch {
    return false;
  }
}

/** A read of a key nobody writes: the store answers (absent) or it is unreachable (throws within its own timeout). */
export async function storeAnswers(store: SessionStore): Promise<boolean> {
  try {
    await store.get('th:ready-probe');
    return true;
  } catch {
    return false;
  }
}

export function mountHealthRoutes<B extends object>(app: Hono<AppEnv<B>>, config: Config, agent: Agent, deps: Pick<TokenHandlerDeps<B>, 'shuttingDown'>, store?: SessionStore): void {
  const base = config.agentPath;
  let loaded = false;
  const notReady = () => jsonResponse(503, { status: 'not_ready' });

  app.on(['GET', 'HEAD'], base + '/health', () => jsonResponse(200, { status: 'ok' }));
  app.on(['GET', 'HEAD'], base + '/ready', async () => {
    if (deps.shuttingDown?.()) return notReady();
    loaded ||= await loadProvider(agent);
    if (!loaded || (store && !(await storeAnswers(store)))) return notReady();
    return jsonResponse(200, { status: 'ready' });
  });
  app.all(base + '/health', methodNotAllowed);
  app.all(base + '/ready', methodNotAllowed);
}

function methodNotAllowed(): never {
  throw new TokenHandlerError('method_not_allowed', { detail: 'The method is not allowed on this endpoint', allow: 'GET, HEAD', reason: 'method_not_allowed' });
}
