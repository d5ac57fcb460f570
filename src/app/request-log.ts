/**
 * What every answer shares, on every platform and shell: the per-request log line and the JSON
 * error answer with its log line. The Hono middleware, the proxy pipeline and the adapters' own
 * refusals all go through these, so a request is logged the same way wherever it was answered.
 */
import { TokenHandlerError, isTokenHandlerError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import { describeCause, type Logger } from './log.js';
import { errorResponse } from './responses.js';

export interface RequestLog {
  /** The per-request line; the path only, as query strings can hold codes and states (OP-01). */
  logged(requestId: string, method: string, path: string, status: number, started: number): void;
  /** A call handed to the platform to forward (Lambda@Edge): its status is in the platform's own logs. */
  forwarded(requestId: string, method: string, path: string, upstreamHost: string, started: number): void;
  /** The JSON error answer for `error`, and its log line (never a stack; causes reduced to name and message). */
  rejected(error: unknown, requestId: string, cors: Headers | undefined): Response;
  /** A security event (login, refresh, logout…), one line with the request id. */
  event(requestId: string, name: string, fields?: Readonly<Record<string, string | number | boolean>>): void;
}

export function createRequestLog(logger: Logger, now: Clock): RequestLog {
  return {
    logged(requestId, method, path, status, started) {
      logger.log('info', 'request', { request_id: requestId, method, path, status, duration_ms: now() - started });
    },
    forwarded(requestId, method, path, upstreamHost, started) {
      logger.log('info', 'request_forwarded', { request_id: requestId, method, path, upstream_host: upstreamHost, duration_ms: now() - started });
    },
    rejected(error, requestId, cors) {
      if (isTokenHandlerError(error)) {
        logger.log(error.status >= 500 ? 'warn' : 'info', 'request_rejected', {
          request_id: requestId,
          code: error.wireCode,
          reason: error.reason,
          status: error.status,
          cause: describeCause(error.cause),
        });
        return errorResponse(error, cors);
      }
      // Anything else is a bug: log what it was, answer without a stack trace.
      logger.log('error', 'unexpected_error', { request_id: requestId, cause: describeCause(error) });
      return errorResponse(new TokenHandlerError('server_error', { reason: 'unexpected_error' }), cors);
    },
    event(requestId, name, fields = {}) {
      logger.log('info', 'security_event', { ...fields, event: name, request_id: requestId });
    },
  };
}
