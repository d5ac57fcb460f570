/**
 * The log lines' own building: the per-request line from pre-serialised parts is what the generic
 * `JSON.stringify` line was, character for character, whatever the client put in the path; the
 * time cached per millisecond; which lines a buffering sink is asked to write at once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogLevel } from '../../src/core/types.js';
import { createLogger, isoTime, jsonNumber, jsonString } from '../../src/app/log.js';
import { createRequestLog, requestLine } from '../../src/app/request-log.js';

/** The line as it was built before: the reference the pre-serialised one must equal. */
function stringifiedLine(time: number, requestId: string, method: string, path: string, status: number, started: number): string {
  return JSON.stringify({ time: new Date(time).toISOString(), level: 'info', msg: 'request', request_id: requestId, method, path, status, duration_ms: time - started });
}

const SPECIALS = ['"', '\\', '\n', '\r', '\t', '\u0000', '\u0007', '\u001f', '\u007f', '\u2028', '\u2029', 'é', '€', '😀', '\ud800', '\udbff', '\udc00', '\udfff', '/', '%22', '\\u0022'];
/** Any code unit (lone surrogates too), any code point, and the characters JSON treats specially. */
const anyText = fc.string({
  unit: fc.oneof(fc.constantFrom(...SPECIALS), fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
  maxLength: 40,
});
const anyNumber = fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer(), fc.double());
const anyTime = fc.integer({ min: 0, max: 8.64e15 });

describe('the per-request line', () => {
  it('equals the JSON.stringify line, and parses to the same object, for any path, id and method', () => {
    fc.assert(
      fc.property(anyTime, anyText, anyText, anyText, anyNumber, anyNumber, (time, requestId, method, path, status, started) => {
        const built = requestLine(time, requestId, method, path, status, started);
        const reference = stringifiedLine(time, requestId, method, path, status, started);
        expect(JSON.parse(built)).toEqual(JSON.parse(reference));
        expect(built).toBe(reference);
      }),
      { numRuns: 2000 },
    );
  });

  it('escapes what JSON needs escaped, and only that', () => {
    for (const text of SPECIALS) {
      expect(jsonString(`/api/a${text}b`)).toBe(JSON.stringify(`/api/a${text}b`));
      expect(JSON.parse(jsonString(text))).toBe(text);
    }
    // A lone surrogate is written as an escape (well-formed JSON.stringify), a proper pair as it is.
    expect(jsonString('\ud800')).toBe('"\\ud800"');
    expect(jsonString('😀')).toBe('"😀"');
    expect(jsonNumber(Number.NaN)).toBe('null');
    expect(jsonNumber(-Infinity)).toBe('null');
    expect(jsonNumber(-0)).toBe('0');
    expect(jsonNumber(1e21)).toBe(JSON.stringify(1e21));
  });

  it('keeps the field names and order of the line it replaces', () => {
    const line = requestLine(Date.UTC(2026, 11, 1, 17, 30), '2b1f0c9e-1', 'GET', '/api/orders/"7"', 200, Date.UTC(2026, 11, 1, 17, 30) - 12);
    expect(line).toBe('{"time":"2026-12-01T17:30:00.000Z","level":"info","msg":"request","request_id":"2b1f0c9e-1","method":"GET","path":"/api/orders/\\"7\\"","status":200,"duration_ms":12}');
  });

  it('is written by logged() at info, as a line that can wait for the turn, and not at all above info', () => {
    const written: [string, boolean | undefined][] = [];
    const sink = (line: string, urgent?: boolean) => void written.push([line, urgent]);
    const now = () => 1_000_000;
    createRequestLog(createLogger('info', sink, now), now, sink).logged('id-1', 'POST', '/api/x', 201, 999_990);
    expect(written).toEqual([[stringifiedLine(1_000_000, 'id-1', 'POST', '/api/x', 201, 999_990), false]]);

    written.length = 0;
    createRequestLog(createLogger('warn', sink, now), now, sink).logged('id-2', 'GET', '/api/x', 200, 999_990);
    expect(written).toEqual([]);
  });
});

describe('the time', () => {
  it('is the ISO string of each millisecond, also when the millisecond changes between calls', () => {
    const start = Date.UTC(2026, 11, 1, 23, 59, 59, 998);
    for (const ms of [start, start, start + 1, start + 2, start, start + 1_000, start - 1_000, 0, -1, -1_001, 8.64e15, -8.64e15]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('is the ISO string of any millisecond a Date can hold, in any order', () => {
    const anyMs = fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.integer({ min: Date.UTC(2026, 0), max: Date.UTC(2026, 0, 1, 0, 0, 3) }), fc.double({ min: -1e13, max: 1e13, noNaN: true }));
    fc.assert(fc.property(fc.array(anyMs, { minLength: 1, maxLength: 20 }), (times) => times.every((ms) => isoTime(ms) === new Date(ms).toISOString())), { numRuns: 1000 });
  });

  it('throws on a time no Date can hold, as toISOString does', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
    expect(() => isoTime(-8.64e15 - 1)).toThrow(RangeError);
  });
});

describe('urgency', () => {
  it('asks the sink to write warn and error lines at once, and lets debug and info wait', () => {
    const urgent: Partial<Record<LogLevel, boolean | undefined>> = {};
    const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
    let current: LogLevel = 'debug';
    const logger = createLogger('debug', (_line, isUrgent) => (urgent[current] = isUrgent), Date.now);
    for (const level of levels) {
      current = level;
      logger.log(level, 'x');
    }
    expect(urgent).toEqual({ debug: false, info: false, warn: true, error: true });
  });

  it('writes an audit line at once, at any log level', async () => {
    const written: [string, boolean | undefined][] = [];
    const sink = (line: string, isUrgent?: boolean) => void written.push([line, isUrgent]);
    await createRequestLog(createLogger('error', sink, Date.now), Date.now, sink).audit('id-3', { event: 'login', outcome: 'success' });
    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0]![0])).toMatchObject({ type: 'audit', msg: 'audit', event: 'login', request_id: 'id-3' });
    expect(written[0]![1]).toBe(true);
  });
});
