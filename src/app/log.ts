/**
 * JSON log lines: one per request and one per security event, each with the request id. Only
 * names, codes and reasons are logged; callers never pass token, cookie or secret values, and
 * error causes are reduced to their name and a short message.
 */
import type { LogLevel } from '../core/types.js';

export type LogSink = (line: string) => void;
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(level: LogLevel, sink: LogSink, now: () => number): Logger {
  return {
    log(lineLevel, msg, fields = {}) {
      if (ORDER[lineLevel] < ORDER[level]) return;
      sink(JSON.stringify({ time: new Date(now()).toISOString(), level: lineLevel, msg, ...fields }));
    },
  };
}

/** A cause fit for a log line: its class and a clipped message, never a stack or a response body. */
export function describeCause(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const inner = cause.cause instanceof Error ? ` <- ${cause.cause.name}: ${safeMessage(cause.cause)}` : '';
    return `${cause.name}${typeof code === 'string' ? `[${code}]` : ''}: ${safeMessage(cause)}${inner}`;
  }
  return typeof cause;
}

function clip(message: string): string {
  // Library messages name claims and codes, not values; the clip guards against one that echoes more.
  return message.replace(/[A-Za-z0-9_-]{40,}(\.[A-Za-z0-9_-]+)*/g, '[redacted]').slice(0, 160);
}

/** A message fit for the log. A JSON parser's message quotes the text it choked on (an IdP's body, maybe with a token in it): keep only that it failed. */
function safeMessage(error: Error): string {
  return error.name === 'SyntaxError' ? 'not valid JSON' : clip(error.message);
}
