/**
 * What every answer shares, on every platform and shell: the per-request log line and the JSON
 * error answer with its log line. The Hono middleware, the proxy pipeline and the adapters' own
 * refusals all go through these, so a request is logged the same way wherever it was answered.
 */
import { auditSessionHash, type AuditRecord } from '../core/audit.js';
import { TokenHandlerError, isTokenHandlerError } from '../core/errors.js';
import { noMetrics, type Clock, type Metrics } from '../core/ports.js';
import { describeCause, isoTime, jsonNumber, jsonString, type LogSink, type Logger } from './log.js';
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
  /**
   * An audit event (contract §8, docs/audit-event.schema.json): one `"type": "audit"` line, written
   * whatever TH_LOG_LEVEL says, with the session id hashed. The one function every audit goes through.
   */
  audit(requestId: string, record: AuditRecord): Promise<void>;
}

/**
 * `sink` gets the audit lines: the log's own sink, but never filtered by level. With metrics,
 * `routeOf` names a path's route (instrumentation.ts routeLabels) for the `requests` counter.
 */
export function createRequestLog(
  logger: Logger,
  now: Clock,
  sink: LogSink,
  metrics: Metrics = noMetrics,
  routeOf: (path: string) => { kind: string; route: string } = () => ({ kind: 'other', route: 'other' }),
): RequestLog {
  const counting = metrics !== noMetrics;
  // The level is fixed for the logger's life: asked once, not per request.
  const requestsLogged = logger.enabled('info');
  return {
    logged(requestId, method, path, status, started) {
      if (requestsLogged) logger.write('info', requestLine(now(), requestId, method, path, status, started));
      if (counting) metrics.count('requests', { ...routeOf(path), status: String(status) });
    },
    forwarded(requestId, method, path, upstreamHost, started) {
      logger.log('info', 'request_forwarded', { request_id: requestId, method, path, upstream_host: upstreamHost, duration_ms: now() - started });
      // Lambda@Edge: CloudFront answers it; its status is in CloudFront's metrics.
      if (counting) metrics.count('requests', { ...routeOf(path), status: 'forwarded' });
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
    async audit(requestId, record) {
      metrics.count('auth_events', { event: record.event, outcome: record.outcome });
      const session = record.sessionId === undefined ? undefined : await auditSessionHash(record.sessionId);
      // Fields in the schema's order; absent ones left out (JSON.stringify drops undefined).
      const line = {
        type: 'audit',
        time: isoTime(now()),
        // As on every other line, so log pipelines that route by level and msg keep working.
        level: 'info',
        msg: 'audit',
        event: record.event,
        outcome: record.outcome,
        reason: record.reason,
        request_id: requestId,
        session,
        sub: record.sub,
        key_id: record.keyId,
      };
      // Urgent: a security event is written at once, never held in a buffer a crash could lose,
      // and it is one line per login, refresh or logout, not per API call, so it costs nothing.
      sink(JSON.stringify(line), true);
    },
  };
}

/**
 * The per-request line, the hottest one, as `logger.log('info', 'request', {request_id, method,
 * path, status, duration_ms})` would write it, character for character, from fixed fragments: only
 * the strings are checked for what needs escaping (the path can hold anything the client sent;
 * the id may come from a platform header), and only they are escaped when it does.
 */
export function requestLine(time: number, requestId: string, method: string, path: string, status: number, started: number): string {
  return (
    '{"time":"' +
    isoTime(time) +
    '","level":"info","msg":"request","request_id":' +
    jsonString(requestId) +
    ',"method":' +
    // A method is a token on every platform's parser, but the check is a few characters' scan.
    jsonString(method) +
    ',"path":' +
    jsonString(path) +
    ',"status":' +
    jsonNumber(status) +
    ',"duration_ms":' +
    jsonNumber(time - started) +
    '}'
  );
}
