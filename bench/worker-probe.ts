/**
 * The benchmark's Worker: the real Workers entry, unchanged, plus a no-op route of its own, the
 * floor of what any request costs in workerd and wrangler's dev proxy.
 *
 *   GET /__bench/noop  "ok"
 */
import tokenHandler from '../src/adapters/workers/worker.js';

// wrangler.toml binds this Durable Object class; the entry must export it.
export { SessionStoreObject } from '../src/adapters/workers/worker.js';

export default {
  fetch(request: Request, env: Record<string, unknown>): Promise<Response> | Response {
    if (new URL(request.url).pathname === '/__bench/noop') return new Response('ok');
    return tokenHandler.fetch(request, env);
  },
};
