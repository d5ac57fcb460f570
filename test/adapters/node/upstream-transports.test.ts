/**
 * The Node adapter's two upstream clients against one suite of rules (./transport-suite.ts): the
 * node:http client (the default) and the one on undici's Pool (`upstreamClient: 'undici'`).
 */
import { HeaderBag } from '../../../src/core/proxy/header-bag.js';
import { describe, expect, it } from 'vitest';
import { createNodeHttpTransport } from '../../../src/adapters/node/http-transport.js';
import { createUndiciTransport } from '../../../src/adapters/node/undici-transport.js';
import { describeUpstreamTransport } from './transport-suite.js';

describeUpstreamTransport('node:http', () => createNodeHttpTransport());
describeUpstreamTransport('undici', (upstreams, timeout) => createUndiciTransport(upstreams, { connectTimeout: timeout }));

describe('the undici client', () => {
  it('calls only the origins it was made for', async () => {
    const transport = createUndiciTransport(['http://127.0.0.1:1/api'], { connectTimeout: 1000 });
    const error = await transport.send({ url: 'http://127.0.0.2:1/api', method: 'GET', headers: new HeaderBag(), body: null, timeout: 1000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, reason: 'upstream_unreachable' });
    await transport.close();
  });
});
