/**
 * The session store as the token handler uses it: a store that cannot answer (StoreUnavailableError,
 * after the store's own bounded timeouts) becomes 503 `store_unavailable` (fail closed, contract
 * §6), and the outage is logged at most once per interval rather than once per request.
 */
import { TokenHandlerError } from '../core/errors.js';
import { StoreUnavailableError, type Clock, type SessionStore } from '../core/ports.js';
import { describeCause, type Logger } from './log.js';

/** At most one `store_unavailable` warning per minute, however many requests are refused. */
export const STORE_WARNING_INTERVAL_MS = 60_000;

export function guardStore(store: SessionStore, logger: Logger, now: Clock, intervalMs = STORE_WARNING_INTERVAL_MS): SessionStore {
  let lastWarning = -Infinity;
  let suppressed = 0;
  const guard = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (now() - lastWarning >= intervalMs) {
        logger.log('warn', 'store_unavailable', { cause: describeCause(error), suppressed });
        lastWarning = now();
        suppressed = 0;
      } else {
        suppressed++;
      }
      throw new TokenHandlerError('store_unavailable', { reason: 'store_unreachable', cause: error });
    }
  };
  return {
    get: (key) => guard(() => store.get(key)),
    put: (key, value, ttl) => guard(() => store.put(key, value, ttl)),
    compareAndSet: (key, expected, value, ttl) => guard(() => store.compareAndSet(key, expected, value, ttl)),
    delete: (key) => guard(() => store.delete(key)),
  };
}
