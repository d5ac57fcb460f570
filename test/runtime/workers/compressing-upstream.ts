/**
 * A test-only upstream API that answers every request with a gzip-encoded JSON body, as many real
 * APIs do behind a proxy. The example API does not compress, and whether a compressed body
 * survives the proxy depends on the runtime's fetch (Node's undici decodes it, Workers' keeps it),
 * so this is the one upstream written by hand for the workerd tests.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export async function startCompressingUpstream(): Promise<{ url: string; /** the exact bytes it sends */ body: Buffer; close(): Promise<void> }> {
  // 2,800 characters of filler: well worth compressing, and easy to check after the round trip.
  const body = gzipSync(JSON.stringify({ compressed: true, filler: 'token handler '.repeat(200) }));
  const server = createServer((request, response) => {
    request.resume();
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': String(body.length),
      'cache-control': 'no-store',
    });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    body,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
