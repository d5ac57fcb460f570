/**
 * JSON log lines: one per request and one per security event, each with the request id. Only
 * names, codes and reasons are logged; callers never pass token, cookie or secret values, and
 * error causes are reduced to their name and a short message.
 */
import type { LogSink } from '../core/ports.js';
import type { LogLevel } from '../core/types.js';

export type { LogSink } from '../core/ports.js';
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** Whether lines at `level` are written, so a hot caller builds no line that would be dropped. */
  enabled(level: LogLevel): boolean;
  /** A line the caller serialised itself (the per-request line), filtered and sent on as `log` does. */
  write(level: LogLevel, line: string): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(level: LogLevel, sink: LogSink, now: () => number): Logger {
  const enabled = (lineLevel: LogLevel) => ORDER[lineLevel] >= ORDER[level];
  return {
    log(lineLevel, msg, fields = {}) {
      if (!enabled(lineLevel)) return;
      sink(JSON.stringify({ time: isoTime(now()), level: lineLevel, msg, ...fields }), ORDER[lineLevel] >= ORDER.warn);
    },
    enabled,
    write(lineLevel, line) {
      if (enabled(lineLevel)) sink(line, ORDER[lineLevel] >= ORDER.warn);
    },
  };
}

const MAX_TIME = 8.64e15;
let cachedMs = Number.NaN;
let cachedIso = '';
let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * `new Date(ms).toISOString()`, kept for the millisecond (a busy server logs several lines in each)
 * and its text up to the second kept for the second, so a new millisecond only appends three digits.
 */
export function isoTime(ms: number): string {
  if (ms === cachedMs) return cachedIso;
  // A fraction or a time out of range: Date's own rounding and RangeError.
  if (!Number.isInteger(ms) || Math.abs(ms) > MAX_TIME) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    // Up to the '.' of '.000Z'; throws on an invalid time, as toISOString does.
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, -4);
    cachedSecond = second;
  }
  const milli = ms - second * 1000;
  cachedIso = cachedPrefix + (milli < 10 ? '00' : milli < 100 ? '0' : '') + milli + 'Z';
  cachedMs = ms;
  return cachedIso;
}

// What JSON.stringify escapes in a string: quote, backslash, control characters, and surrogates
// (lone ones become \udXXX; a proper pair is left as it is, which the fallback also does).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** `JSON.stringify(value)` for a string, without the call when nothing in it needs escaping (the usual path or id). */
export function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** `JSON.stringify(value)` for a number: non-finite ones are `null`, as there. */
export function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
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
