/**
 * The metrics the token handler records (contract §8), as one table: name, kind, help and label
 * names. Every `Metrics.count/observe` call uses a name from here with exactly these labels, each
 * of a small fixed set of values; the Node adapter builds its Prometheus registry from it, the
 * Lambda@Edge adapter its Embedded Metric Format lines.
 */
export const METRICS = {
  requests: {
    kind: 'counter',
    help: 'Requests answered, by route kind (agent, api, other), route (the agent endpoint, the API route prefix, or "other") and status.',
    labels: ['kind', 'route', 'status'],
  },
  auth_events: {
    kind: 'counter',
    help: 'Logins, refreshes, logouts and the other audit events, by event and outcome (success, failure).',
    labels: ['event', 'outcome'],
  },
  unseal_failures: {
    kind: 'counter',
    help: 'Cookie values that did not open, by reason (malformed, unknown_key, tampered, wrong_purpose, expired).',
    labels: ['purpose', 'reason'],
  },
  upstream_duration: {
    kind: 'histogram',
    help: 'Milliseconds from sending an API call upstream to its answer\'s headers, by upstream host and outcome (answered, failed).',
    labels: ['upstream', 'outcome'],
  },
  idp_duration: {
    kind: 'histogram',
    help: 'Milliseconds per call to the identity provider, by endpoint (the last segment of its path) and outcome (answered, failed).',
    labels: ['endpoint', 'outcome'],
  },
  store_duration: {
    kind: 'histogram',
    help: 'Milliseconds per session-store operation (get, put, compare_and_set, delete), by outcome (ok, unavailable, error).',
    labels: ['operation', 'outcome'],
  },
} as const satisfies Record<string, { kind: 'counter' | 'histogram'; help: string; labels: readonly string[] }>;

export type MetricName = keyof typeof METRICS;

/** Histogram buckets, milliseconds: from a cache hit to a slow IdP's timeout. */
export const DURATION_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;
