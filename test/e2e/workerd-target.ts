/**
 * The token handler in workerd: the same stack, with the token handler's paths forwarded to the
 * Worker under `wrangler dev` (examples/start-worker.ts, as `npm run start:worker` runs it).
 */
import { startWorker } from '../../examples/start-worker.js';
import { startStack } from '../../examples/start.js';
import type { Target } from './stack.js';

let forwardedToWorker = 0;

export const workerdTarget: Target & { forwarded(): number } = {
  name: 'workerd',
  /** How many requests the SPA's origin forwarded to the Worker, so a test can tell it really ran there. */
  forwarded: () => forwardedToWorker,
  async start({ port, env }) {
    const stack = await startStack({
      ports: { spa: port, api: 0, provider: 0 },
      env,
      quiet: true,
      // Checked as the Worker checks them; the Durable Object is the store (back-channel logout, refreshes).
      platform: 'workers',
      tokenHandler: async (settings, config) => {
        const worker = await startWorker(settings, config, { port: 0, quiet: true });
        return {
          ...worker,
          fetch: (request, bindings) => {
            forwardedToWorker++;
            return worker.fetch(request, bindings);
          },
        };
      },
    });
    return { close: () => stack.close() };
  },
};
