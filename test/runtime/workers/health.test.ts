/**
 * `{agent}/health` and `{agent}/ready` on the deployed Worker (wrangler.toml and the bound stack's
 * settings), inside workerd, through SELF: the provider's metadata and keys load over workerd's fetch.
 */
import { SELF } from 'cloudflare:test';
import { expect, it } from 'vitest';
import { PUBLIC_ORIGIN } from '../../helpers/spa-client.js';

it('answers health and ready', async () => {
  const health = await SELF.fetch(`${PUBLIC_ORIGIN}/oauth-agent/health`);
  expect(health.status).toBe(200);
  expect(await health.text()).toBe('{"status":"ok"}');
  const ready = await SELF.fetch(`${PUBLIC_ORIGIN}/oauth-agent/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.text()).toBe('{"status":"ready"}');
});
