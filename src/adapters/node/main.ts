/**
 * The Node process entry: what a container runs (`node dist/node/server.js`, or `npm run serve`).
 * Configuration comes from `TH_*` environment variables; the port from `PORT` (default 8080), the
 * bind address from `HOST` (default 0.0.0.0, as a container needs), the shutdown grace from
 * `SHUTDOWN_GRACE` (seconds, default 20), Prometheus metrics on `METRICS_PORT` (same HOST; off when
 * unset, and never the public port), traces over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
 * (the OpenTelemetry SDK is loaded only then). Nothing imports this file: it runs on load, so no "am I
 * the main module" check can fire inside someone else's bundle.
 *
 * SIGTERM (or Ctrl-C) drains: `/ready` answers 503, the listener closes, requests in flight finish,
 * and the process exits 0. A second signal, or the grace running out, closes what is left and
 * exits 1.
 */
import { createLogger } from '../../app/log.js';
import { loadProvider } from '../../app/health-routes.js';
import { ConfigError, parseConfig, type Config } from '../../config/parse.js';
import type { Metrics } from '../../core/ports.js';
import { createEmfMetrics } from '../../app/emf-metrics.js';
import { stdoutLogSink } from './log-sink.js';
import { createNodeTokenHandler, startNodeServer } from './server.js';
import { readServerSettings } from './server-settings.js';

async function main(): Promise<void> {
  const { settings, problems } = readServerSettings(process.env);
  let config: Config | undefined;
  try {
    config = parseConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || !config) {
    console.error(new ConfigError(problems).message);
    process.exit(1);
  }

  // The same buffered stdout sink as the token handler's (log-sink.ts), so their lines keep their order.
  const out = stdoutLogSink();
  const log = createLogger(config.logLevel, out.sink, Date.now);
  let shuttingDown = false;
  // prom-client is loaded only when metrics are on.
  const promModule = settings.metricsPort !== undefined ? await import('./prometheus-metrics.js') : undefined;
  const prometheus = promModule?.createPrometheusMetrics({ processMetrics: true });
  const emf = config.cloudwatchMetrics ? createEmfMetrics(out.sink, Date.now) : undefined;
  const metrics = prometheus && emf ? teeMetrics(prometheus.metrics, emf) : (prometheus?.metrics ?? emf);
  const otel = process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] ? (await import('./otel-tracing.js')).startOtelTracing(process.env) : undefined;
  const handler = createNodeTokenHandler(config, { shuttingDown: () => shuttingDown, ...(metrics ? { metrics } : {}), ...(otel ? { tracing: otel.tracing } : {}) });
  const server = await startNodeServer(handler.listener, { port: settings.port, hostname: settings.host });
  log.log('info', 'listening', { url: server.url, issuer: config.issuer });
  if (prometheus) {
    const metricsServer = await promModule!.startMetricsServer(prometheus.registry, settings.metricsPort!, settings.host);
    // Not drained on SIGTERM: scrapes may go on until the process exits.
    metricsServer.server.unref();
    log.log('info', 'metrics_listening', { url: metricsServer.url });
  }
  // Fetch the provider's metadata and keys now, so that the first login does not wait for them and /ready turns 200.
  void loadProvider(handler.agent).then((ok) => {
    if (!ok) log.log('warn', 'provider_not_loaded', { issuer: config.issuer, detail: 'discovery or the key set failed; /ready answers 503 until they load' });
  });

  const stop = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      // At once, as asked: the exit hook writes what is gathered, without waiting for a lagging reader.
      log.log('warn', 'shutdown_forced', { signal });
      process.exit(1);
    }
    shuttingDown = true;
    const drained = server.drain(settings.shutdownGraceMs);
    log.log('info', 'shutting_down', { signal, grace_s: settings.shutdownGraceMs / 1000 });
    void drained.then(async (clean) => {
      // The last spans go out before the process does (bounded by the exporter's own timeout).
      await otel?.shutdown().catch(() => {});
      // After the last request: the store's connections (Redis) would otherwise hold the process open.
      await handler.close().catch((error: unknown) => log.log('warn', 'store_close_failed', { cause: error instanceof Error ? error.name : typeof error }));
      log.log(clean ? 'info' : 'warn', clean ? 'stopped' : 'stopped_with_requests_cut', {});
      // Every line out before the process is: process.exit would drop what a lagging stdout pipe still queues.
      await out.drained();
      process.exit(clean ? 0 : 1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Both: Prometheus for the cluster, EMF for CloudWatch. */
function teeMetrics(a: Metrics, b: Metrics): Metrics {
  return {
    count: (name, labels) => (a.count(name, labels), b.count(name, labels)),
    observe: (name, ms, labels) => (a.observe(name, ms, labels), b.observe(name, ms, labels)),
  };
}

await main();
