/**
 * Monitoring on Workers is the platform's: wrangler.toml turns on Workers Logs (our JSON lines,
 * audit lines included, and the invocation's own line) and Workers tracing, for every request.
 * Read with wrangler's own config reader, so a misspelt key fails here rather than at deploy.
 */
import { describe, expect, it, vi } from 'vitest';
import { unstable_readConfig } from 'wrangler';

describe('wrangler.toml [observability]', () => {
  it('keeps every log line and traces every request, and wrangler reads it without a warning', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const config = unstable_readConfig({ config: new URL('../../wrangler.toml', import.meta.url).pathname });
    expect(warn.mock.calls.map((c) => String(c[0])).filter((m) => /observability/i.test(m))).toEqual([]);
    warn.mockRestore();
    expect(config.observability).toEqual({
      enabled: true,
      head_sampling_rate: 1,
      logs: { enabled: true, invocation_logs: true },
      traces: { enabled: true, head_sampling_rate: 1 },
    });
  });
});
