/**
 * The proxy's path check (contract §2, "No way out of a route"): judged on the path as it arrived,
 * before any URL parsing has resolved what an attacker encoded.
 */
import { TokenHandlerError, type Reason } from '../errors.js';

function refusePath(reason: Reason): TokenHandlerError {
  return new TokenHandlerError('invalid_request', { detail: 'The request path is not allowed', reason });
}

/**
 * `.` and `..`, and any segment made only of dots and spaces (`...`, `.. `, `.. .`: Windows and IIS
 * drop trailing dots and spaces, leaving `..` or `.`), also before a `;` parameter (`..;x`, which
 * Tomcat and Spring read as `..`) or a `:` NTFS stream name (`..::$INDEX_ALLOCATION`). Names with
 * anything else in them (`a..b`, `.well-known`) are plain names.
 */
function isDotSegment(segment: string): boolean {
  const name = segment.split(/[;:]/, 1)[0]!;
  return name.includes('.') && /^[. ]+$/.test(name);
}

function hasDotSegment(path: string): boolean {
  if (!path.includes('.')) return false;
  for (const segment of path.split('/')) if (isDotSegment(segment)) return true;
  return false;
}

/**
 * Refuses any path that could reach outside its route once some server along the way decodes or
 * normalises it: dot segments (also dots and spaces only, percent-encoded, once or more, or as
 * Unicode look-alikes),
 * encoded slashes and backslashes, raw backslashes, `#` and control characters. Give it the path as it
 * arrived on the wire: URL parsing has already resolved `..` and `%2e%2e`, hiding the attempt.
 */
export function assertSafePath(rawPath: string): void {
  if (!rawPath.startsWith('/')) throw refusePath('path_not_absolute');
  let current = rawPath;
  for (let depth = 0; depth < 4; depth++) {
    // A `#` never leaves a browser; in a path it would cut off what follows once the upstream URL is parsed.
    if (/[\\#\u0000-\u001f\u007f]/.test(current)) throw refusePath('path_bad_character');
    if (/%(2f|5c|00)/i.test(current)) throw refusePath('path_encoded_separator');
    if (hasDotSegment(current)) throw refusePath('path_dot_segment');
    // Full-width and other compatibility dots and slashes become `.` and `/` under NFKC, which some servers apply.
    if (/[^\u0000-\u007f]/.test(current)) {
      const folded = current.normalize('NFKC');
      if (/[\\]/.test(folded) || hasDotSegment(folded) || folded.split('/').length !== current.split('/').length) throw refusePath('path_unicode_lookalike');
    }
    if (!current.includes('%')) return;
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      throw refusePath('path_bad_encoding');
    }
    if (decoded === current) return;
    current = decoded;
  }
  // Still changing after several rounds of decoding: nobody legitimate encodes that deep.
  throw refusePath('path_encoded_too_deep');
}
