import { describe, expect, it } from 'vitest';
import { routesByUpstream } from '../../../src/core/proxy/routes.js';
import { testConfig } from '../../helpers/config.js';

const config = testConfig({
  TH_API_ROUTES: '/api=https://api.example.test/v1,/docs=https://api.example.test/v1/docs,/root=https://root.example.test,/port=https://api.example.test:8443/v1',
});
const prefixes = (url: string) => routesByUpstream(config.apiRoutes, url).map((r) => r.prefix).sort();

describe('routesByUpstream (an answer traced back to its route by the forwarded request)', () => {
  it('finds every route whose upstream base holds the URL, on a / boundary', () => {
    expect(prefixes('https://api.example.test:443/v1/orders')).toEqual(['/api']);
    expect(prefixes('https://api.example.test/v1')).toEqual(['/api']);
    // Both could have sent it: /api with /docs/x, or /docs with /x.
    expect(prefixes('https://api.example.test/v1/docs/x')).toEqual(['/api', '/docs']);
    expect(prefixes('https://root.example.test/anything')).toEqual(['/root']);
    expect(prefixes('https://api.example.test:8443/v1/x')).toEqual(['/port']);
  });

  it('finds none for another host, port, scheme or path', () => {
    expect(prefixes('https://api.example.test/v1x')).toEqual([]);
    expect(prefixes('https://api.example.test/v2/x')).toEqual([]);
    expect(prefixes('http://api.example.test/v1/x')).toEqual([]);
    expect(prefixes('https://api.example.test:9443/v1/x')).toEqual([]);
    expect(prefixes('https://other.example.test/v1/x')).toEqual([]);
    expect(prefixes('not a url')).toEqual([]);
  });
});
