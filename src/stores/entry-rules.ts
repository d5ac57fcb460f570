/**
 * The bounds of `SessionStore` (src/core/ports.ts), checked the same way by every store before it
 * reaches its engine, so a call that one engine would take and another refuse fails everywhere.
 */
import { STORE_LIMITS } from '../core/ports.js';

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
// With the u flag a surrogate pair is one code point, so this matches only a lone surrogate.
const LONE_SURROGATE = /\p{Cs}/u;
const encoder = new TextEncoder();

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length > STORE_LIMITS.keyLength || !VISIBLE_ASCII.test(key)) {
    throw new RangeError(`A session store key must be 1 to ${STORE_LIMITS.keyLength} visible ASCII characters`);
  }
}

export function checkValue(value: string): void {
  if (typeof value !== 'string' || LONE_SURROGATE.test(value)) {
    throw new RangeError('A session store value must be a well-formed string');
  }
  // Three bytes per UTF-16 unit at most: only long values need the exact count.
  if (value.length * 3 > STORE_LIMITS.valueBytes && encoder.encode(value).length > STORE_LIMITS.valueBytes) {
    throw new RangeError(`A session store value must be at most ${STORE_LIMITS.valueBytes} bytes in UTF-8`);
  }
}

export function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > STORE_LIMITS.ttlSeconds) {
    throw new RangeError(`A session store TTL must be a whole number of seconds from 1 to ${STORE_LIMITS.ttlSeconds}`);
  }
}

export function checkWrite(key: string, value: string, ttlSeconds: number): void {
  checkKey(key);
  checkValue(value);
  checkTtl(ttlSeconds);
}

export function checkCompareAndSet(key: string, expected: string | undefined, value: string, ttlSeconds: number): void {
  checkWrite(key, value, ttlSeconds);
  if (expected !== undefined) checkValue(expected);
}
