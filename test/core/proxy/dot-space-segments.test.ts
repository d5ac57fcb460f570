/**
 * Windows and IIS path segments (issue 11, finding 6): IIS drops trailing dots and spaces from a
 * segment, so `..%20`, `..%2e%20`, `...` and `.. .` are `..` there. A segment made only of dots and
 * spaces, once decoded, is refused as a traversal; names with anything else in them still pass.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenHandlerError } from '../../../src/core/errors.js';
import { assertSafePath } from '../../../src/core/proxy/path-safety.js';

const refusal = (path: string) => {
  try {
    assertSafePath(path);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenHandlerError);
    return (error as TokenHandlerError).reason;
  }
};

describe('segments of dots and spaces', () => {
  it.each([
    '/api/a/..%20/x',
    '/api/a/..%2e%20/x',
    '/api/a/..%2E%20/x',
    '/api/a/...',
    '/api/a/.../x',
    '/api/a/.. ./x',
    '/api/a/..%20.%20/x',
    '/api/a/%2e%2e%20/x',
    '/api/a/%20../x',
    '/api/a/.%20/x',
    '/api/a/....../x',
    '/api/a/..%2520/x',
    '/api/a/%252e%252e%2520/x',
    '/api/a/..%20;x/y',
    '/api/a/..::$INDEX_ALLOCATION/x',
    '/api/a/..%3a%3a$INDEX_ALLOCATION/x',
    '/api/a/..:/x',
    // Look-alike spaces become a plain space under NFKC.
    '/api/a/..%e3%80%80/x',
    '/api/a/..%c2%a0/x',
    '/api/a/..\u3000/x',
  ])('refuses %s', (path) => {
    expect(refusal(path)).toBeDefined();
  });

  it.each(['/api/a%20b', '/api/a..b', '/api/..a', '/api/a..', '/api/.well-known', '/api/v1.2/x', '/api/%20', '/api/a/%20%20/x', '/api/x:batchGet', '/api/a/b%20./x', '/api/a;..'])(
    'accepts the plain name %s',
    (path) => {
      expect(refusal(path)).toBeUndefined();
    },
  );

  it('lets no accepted path climb out once IIS has dropped trailing dots and spaces from every segment', () => {
    const piece = fc.constantFrom('a', '.', '..', ' ', '%20', '%2e', '%2E', '%252e', '%2520', ';', ':', 'x', '%c2%a0', '\u3000');
    fc.assert(
      fc.property(fc.array(fc.array(piece, { maxLength: 5 }).map((p) => p.join('')), { maxLength: 6 }), (segments) => {
        const rest = '/' + segments.join('/');
        if (refusal('/api' + rest) !== undefined) return;
        // Decode up to three times, fold look-alikes, cut `;` and `:` suffixes, and trim every segment as
        // Windows does (a segment of dots and spaces taken at its worst, as `..`).
        const windowsSegment = (segment: string) => {
          const name = segment.split(/[;:]/, 1)[0]!;
          return /^[. ]+$/.test(name) && name.includes('.') ? '..' : name.replace(/[. ]+$/, '');
        };
        let current = rest;
        for (let round = 0; round < 4; round++) {
          const windows = current.normalize('NFKC').split('/').map(windowsSegment).join('/');
          const pathname = new URL('https://up.test/base' + windows).pathname;
          expect(pathname === '/base' || pathname.startsWith('/base/'), `${rest} -> ${pathname}`).toBe(true);
          try {
            current = decodeURIComponent(current);
          } catch {
            break;
          }
        }
      }),
      { numRuns: 3000, seed: 20261125 },
    );
  });
});
