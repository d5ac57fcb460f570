/**
 * The `Metrics` port's calls (names and labels of core/metrics.ts), recorded: unseal failures by
 * reason, the route labels of requests, store timings; and none of them made with `noMetrics`.
 * The Prometheus side against the real server process is test/ship/metrics.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { routeLabels, timedStore } from '../../src/app/instrumentation.js';
import { METRICS } from '../../src/core/metrics.js';
import { StoreUnavailableError, type Metrics, type SessionStore } from '../../src/core/ports.js';
import { createSealer } from '../../src/core/session/cookie-seal.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { testConfig } from '../helpers/config.js';

type Call = [string, string, Record<string, string>];
function recording(): { metrics: Metrics; calls: Call[] } {
  const calls: Call[] = [];
  const check = (name: string, labels: Record<string, string>) => {
    // Every call names a metric of the table with exactly its labels.
    const spec = (METRICS as Record<string, { labels: readonly string[] }>)[name];
    expect(spec, name).toBeDefined();
    expect(Object.keys(labels).sort()).toEqual([...spec!.labels].sort());
  };
  return {
    calls,
    metrics: {
      count: (name, labels = {}) => (check(name, labels), calls.push(['count', name, { ...labels }])),
      observe: (name, _ms, labels = {}) => (check(name, labels), calls.push(['observe', name, { ...labels }])),
    },
  };
}

describe('unseal failures', () => {
  it('are counted by purpose and reason; an absent value and a value that opens are not', async () => {
    const { metrics, calls } = recording();
    let now = Date.now();
    const sealer = createSealer([{ id: 'k1', secret: 'a'.repeat(8) + 'bcdefghijklmnopqrstuvwxyz0123456789' }], () => now, undefined, undefined, metrics);
    const other = createSealer([{ id: 'k9', secret: 'Z'.repeat(4) + 'yxwvutsrqponmlkjihgfedcba9876543210' }], () => now);
    const value = await sealer.seal('at', { t: 'x' }, now / 1000 + 60);
    expect(await sealer.unseal('at', value)).toBeDefined();
    expect(await sealer.unseal('at', undefined)).toBeUndefined();
    expect(calls).toEqual([]);
    await sealer.unseal('at', 'not sealed');
    await sealer.unseal('at', await other.seal('at', { t: 'x' }, now / 1000 + 60));
    await sealer.unseal('rt', value);
    const flipped = value.slice(0, -2) + (value.at(-2) === 'A' ? 'B' : 'A') + value.at(-1);
    await sealer.unseal('at', flipped);
    now += 120_000;
    await sealer.unseal('at', value);
    expect(calls.map(([, , labels]) => labels)).toEqual([
      { purpose: 'at', reason: 'malformed' },
      { purpose: 'at', reason: 'unknown_key' },
      // Each purpose has its own keys, so a value of another purpose fails its MAC.
      { purpose: 'rt', reason: 'tampered' },
      { purpose: 'at', reason: 'tampered' },
      { purpose: 'at', reason: 'expired' },
    ]);
  });
});

describe('route labels', () => {
  it('name the agent endpoint, the longest API prefix, or other', () => {
    const label = routeLabels(testConfig({ TH_API_ROUTES: '/api=http://127.0.0.1:1/api,/api/orders=http://127.0.0.1:2' }));
    expect(label('/oauth-agent/login/end')).toEqual({ kind: 'agent', route: '/login/end' });
    expect(label('/oauth-agent/ready')).toEqual({ kind: 'agent', route: '/ready' });
    expect(label('/oauth-agent/nothing-here')).toEqual({ kind: 'other', route: 'other' });
    expect(label('/api/orders/42')).toEqual({ kind: 'api', route: '/api/orders' });
    expect(label('/api/users/a-user-id')).toEqual({ kind: 'api', route: '/api' });
    expect(label('/apiary')).toEqual({ kind: 'other', route: 'other' });
  });
});

describe('store timings', () => {
  it('time each operation with its outcome', async () => {
    const { metrics, calls } = recording();
    const store = timedStore(new MemoryStore(), metrics, Date.now);
    await store.put('k', 'v', 60);
    expect(await store.get('k')).toBe('v');
    expect(await store.compareAndSet('k', 'v', 'w', 60)).toBe(true);
    await store.delete('k');
    const down: SessionStore = { get: () => Promise.reject(new StoreUnavailableError('down')), put: async () => {}, compareAndSet: async () => true, delete: async () => {} };
    await expect(timedStore(down, metrics, Date.now).get('k')).rejects.toThrow(StoreUnavailableError);
    expect(calls.map(([, , labels]) => `${labels['operation']}:${labels['outcome']}`)).toEqual(['put:ok', 'get:ok', 'compare_and_set:ok', 'delete:ok', 'get:unavailable']);
  });
});

describe('the README', () => {
  it('documents every metric of the table under its Prometheus name', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Monitoring'), readme.indexOf('### Traces'));
    for (const [name, spec] of Object.entries(METRICS)) {
      expect(section, name).toContain(`| \`token_handler_${name}${spec.kind === 'counter' ? '_total' : '_milliseconds'}\` |`);
      for (const label of spec.labels) expect(section, `${name} ${label}`).toContain(`\`${label}\``);
    }
  });
});
