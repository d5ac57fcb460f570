/**
 * The `Metrics` port as CloudWatch Embedded Metric Format (Lambda@Edge; Node on ECS), one JSON log line per
 * count or timing, which CloudWatch Logs turns into metrics in the region that ran the function
 * (no SDK call, no extra latency). On when TH_CLOUDWATCH_METRICS is set, since custom metrics are
 * billed. Names and dimensions are core/metrics.ts's.
 */
import { METRICS, type MetricName } from '../core/metrics.js';
import type { LogSink, Metrics } from '../core/ports.js';

export const EMF_NAMESPACE = 'EdgeTokenHandler';

export function createEmfMetrics(sink: LogSink, now: () => number): Metrics {
  const line = (name: string, value: number, unit: 'Count' | 'Milliseconds', labels: Readonly<Record<string, string>>) => {
    const spec = METRICS[name as MetricName];
    if (!spec) return;
    sink(
      JSON.stringify({
        _aws: { Timestamp: now(), CloudWatchMetrics: [{ Namespace: EMF_NAMESPACE, Dimensions: [[...spec.labels]], Metrics: [{ Name: name, Unit: unit }] }] },
        ...labels,
        [name]: value,
      }),
    );
  };
  return {
    count: (name, labels = {}) => line(name, 1, 'Count', labels),
    observe: (name, milliseconds, labels = {}) => line(name, milliseconds, 'Milliseconds', labels),
  };
}
