/**
 * Refresh coordination (contract §6.1): with rotating refresh tokens, two refreshes of one session
 * at once (two tabs, two instances) must not both reach the IdP, or the second presents a token
 * the first has just rotated away and the IdP ends the whole grant. So each refresh generation (the
 * session and the refresh token it presents, hashed) is one store entry: the first refresh takes it
 * by compare-and-set as a lease and calls the IdP; the others wait (bounded) for the result it then
 * writes there, sealed with the cookie keys, and kept for TH_REFRESH_GRACE seconds so that a late
 * refresh presenting the superseded token gets the same new tokens too.
 */
import type { JWTPayload } from 'jose';
import { TokenHandlerError } from '../errors.js';
import type { DpopKeyData } from '../oidc/dpop.js';
import type { Clock, SessionStore } from '../ports.js';
import type { Sealer } from './cookie-seal.js';

/** What a refresh brought: the tokens to put in the cookies (no raw ID token), and the key they are bound to. */
export interface RefreshOutcome {
  readonly tokens: {
    readonly accessToken: string;
    readonly accessTokenExpiresAt?: number;
    readonly scope?: string;
    readonly refreshToken?: string;
    readonly idTokenClaims?: JWTPayload;
  };
  readonly dpopKey?: DpopKeyData;
}

export interface RefreshCoordination {
  /** `refresh` at most once per generation across the instances sharing the store; `shared` when another did it. */
  once(sessionId: string, refreshToken: string, refresh: () => Promise<RefreshOutcome>): Promise<{ outcome: RefreshOutcome; shared: boolean }>;
}

export interface RefreshCoordinationOptions {
  readonly store: SessionStore;
  readonly sealer: Sealer;
  readonly now: Clock;
  /** TH_REFRESH_GRACE: seconds the result is kept for late refreshes with the superseded token. */
  readonly graceSeconds: number;
  /** How long a waiting refresh waits for the one that called the IdP (ms): the IdP timeout and a margin. */
  readonly waitMs: number;
  /** Between two looks at the store while waiting (ms). */
  readonly pollMs?: number;
}

const LEASE = 'lease';
const RESULT = 'result:';

export function createRefreshCoordination(options: RefreshCoordinationOptions): RefreshCoordination {
  const { store, sealer, now, graceSeconds, waitMs } = options;
  const pollMs = options.pollMs ?? 25;
  // The lease outlives the IdP call it guards; if its holder dies, it expires and another takes over.
  const leaseSeconds = Math.ceil(waitMs / 1000) + 1;
  const opened = async (value: string | undefined): Promise<RefreshOutcome | undefined> =>
    value?.startsWith(RESULT) ? (await sealer.unseal<RefreshOutcome>('refresh', value.slice(RESULT.length)))?.data : undefined;

  return {
    async once(sessionId, refreshToken, refresh) {
      const key = await generationKey(sessionId, refreshToken);
      // Counted in polls, not by the clock: a test's frozen clock must not make the wait endless.
      for (let poll = 0; ; poll++) {
        const seen = await store.get(key);
        const done = await opened(seen);
        if (done) return { outcome: done, shared: true };
        // A result that no longer opens (past the grace, or sealed with a retired key) is as good as none.
        const free = seen === undefined || seen.startsWith(RESULT);
        if (free && (await store.compareAndSet(key, seen, LEASE, leaseSeconds))) {
          let outcome: RefreshOutcome;
          try {
            outcome = await refresh();
          } catch (error) {
            // Let a waiting refresh try for itself (it will hear the same answer, or better).
            await store.delete(key).catch(() => undefined);
            throw error;
          }
          const sealed = await sealer.seal('refresh', outcome, Math.floor(now() / 1000) + graceSeconds);
          await store.put(key, RESULT + sealed, graceSeconds);
          return { outcome, shared: false };
        }
        if (poll * pollMs >= waitMs) throw new TokenHandlerError('authorization_server_error', { reason: 'refresh_wait_timeout' });
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    },
  };
}

/** The store never sees the refresh token, only a hash of it with the session id. */
async function generationKey(sessionId: string, refreshToken: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${sessionId}\n${refreshToken}`)));
  return 'rf:' + btoa(String.fromCharCode(...digest)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
