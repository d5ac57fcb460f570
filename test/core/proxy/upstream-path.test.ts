/**
 * The upstream request target joined from a route's parsed base instead of parsing the call's URL
 * each time: it must be exactly what URL parsing gives, for any rest and query.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseUpstreamBase, upstreamPath } from '../../../src/core/proxy/routes.js';

const BASES = ['https://api.example.test', 'https://api.example.test/v1', 'http://127.0.0.1:8080/a/b', 'http://[::1]:9000/x', 'https://API.Example.test:443/v1/', 'https://api.example.test/v%20x'];
const byUrl = (upstream: string, rest: string, search: string) => {
  const url = new URL(upstream + rest + search);
  return url.pathname + url.search;
};

describe('upstreamPath', () => {
  it('gives what URL parsing gives, for ordinary and odd paths and queries', () => {
    const cases: [string, string][] = [
      ['', ''],
      ['', '?a=1'],
      ['/', ''],
      ['/orders/7', '?q=a%20b&x=1'],
      ['/a', '?'],
      ['/a', '?b#frag'],
      ['/a b', ''],
      ['/"q"<x>`{}', "?'x'=\"y\""],
      ['/caf\u00e9', '?na\u00efve'],
      ['/.well-known/x', ''],
      ['/a/./b/../c', ''],
      ['/%2e%2E/x', ''],
      ['/a|b^c[d]', '?x[]=1|2'],
      ['/%zz%', '?%zz'],
      ['/a', '?b?c/d'],
    ];
    for (const upstream of BASES) {
      const base = parseUpstreamBase(upstream);
      for (const [rest, search] of cases) expect(upstreamPath(base, rest, search), `${upstream} ${rest} ${search}`).toBe(byUrl(upstream, rest, search));
    }
  });

  it('for any rest and query (fuzzed)', () => {
    const text = fc.string({ unit: fc.constantFrom(...'aZ09-._~!$&()*+,;=:@%/?#\'"<>`{}|^[] \t\u00e9\u2025.'.split('')), maxLength: 16 });
    fc.assert(
      fc.property(fc.constantFrom(...BASES), text, fc.option(text), (upstream, tail, query) => {
        const rest = tail === '' ? '' : `/${tail.replace(/\?/g, '')}`;
        const search = query === null ? '' : `?${query}`;
        expect(upstreamPath(parseUpstreamBase(upstream), rest, search)).toBe(byUrl(upstream, rest, search));
      }),
      { seed: 20261201, numRuns: 2000 },
    );
  });

  it('parses the origin once into what a client connects with: no brackets around an IPv6 host', () => {
    expect(parseUpstreamBase('http://[::1]:9000/x').origin).toEqual({ protocol: 'http:', hostname: '::1', port: '9000', host: '[::1]:9000' });
    expect(parseUpstreamBase('https://api.example.test/v1').origin).toEqual({ protocol: 'https:', hostname: 'api.example.test', port: '', host: 'api.example.test' });
  });
});
