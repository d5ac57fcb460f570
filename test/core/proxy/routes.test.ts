import { describe, expect, it } from 'vitest';
import { matchRoute } from '../../../src/core/proxy/routes.js';
import { testConfig } from '../../helpers/config.js';

const config = testConfig({
  TH_API_ROUTES: '/api=https://api.example.test/base,/api/orders=https://orders.example.test/v2',
});

describe('matchRoute', () => {
  it('matches on a / boundary and prefers the longest prefix', () => {
    expect(matchRoute(config.apiRoutes, '/api/orders/7')).toMatchObject({ route: { prefix: '/api/orders' }, rest: '/7' });
    expect(matchRoute(config.apiRoutes, '/api/orders')).toMatchObject({ route: { prefix: '/api/orders' }, rest: '' });
    expect(matchRoute(config.apiRoutes, '/api/ordersx')).toMatchObject({ route: { prefix: '/api' }, rest: '/ordersx' });
    expect(matchRoute(config.apiRoutes, '/apix')).toBeUndefined();
    expect(matchRoute(config.apiRoutes, '/other/api')).toBeUndefined();
    expect(matchRoute(config.apiRoutes, '/ap')).toBeUndefined();
    expect(matchRoute(config.apiRoutes, '/api')).toMatchObject({ route: { prefix: '/api' }, rest: '' });
    expect(matchRoute(config.apiRoutes, '/api/')).toMatchObject({ route: { prefix: '/api' }, rest: '/' });
  });

  it('does not depend on the order of the routes', () => {
    const reversed = [...config.apiRoutes].reverse();
    expect(matchRoute(reversed, '/api/orders/7')).toMatchObject({ route: { prefix: '/api/orders' }, rest: '/7' });
  });
});
