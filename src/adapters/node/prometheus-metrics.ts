/**
 * The `Metrics` port on Node as Prometheus text, through prom-client (the Prometheus client most
 * Node services use, kept up by its maintainers), with one registry per token handler and every
 * metric of core/metrics.ts registered up front, so a scrape shows them at zero before traffic.
 * Served on METRICS_PORT by main.ts, never on the public port.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DURATION_BUCKETS_MS, METRICS, type MetricName } from '../../core/metrics.js';
import type { Metrics } from '../../core/ports.js';

const PREFIX = 'token_handler_';

export interface PrometheusMetrics {
  readonly metrics: Metrics;
  readonly registry: Registry;
}

export function createPrometheusMetrics(options: { processMetrics?: boolean } = {}): PrometheusMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const counters = new Map<string, Counter>();
  const histograms = new Map<string, Histogram>();
  for (const [name, spec] of Object.entries(METRICS) as [MetricName, (typeof METRICS)[MetricName]][]) {
    const common = { name: PREFIX + name + (spec.kind === 'counter' ? '_total' : '_milliseconds'), help: spec.help, labelNames: [...spec.labels], registers: [registry] };
    if (spec.kind === 'counter') counters.set(name, new Counter(common));
    else histograms.set(name, new Histogram({ ...common, buckets: [...DURATION_BUCKETS_MS] }));
  }
  return {
    registry,
    metrics: {
      // A name outside the table is a programming error, but never worth failing a request for.
      count: (name, labels = {}) => counters.get(name)?.inc(labels),
      observe: (name, milliseconds, labels = {}) => histograms.get(name)?.observe(labels, milliseconds),
    },
  };
}

/** `GET /metrics` (anything else 404) on its own listener. */
export async function startMetricsServer(registry: Registry, port: number, host: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/metrics` };
}
