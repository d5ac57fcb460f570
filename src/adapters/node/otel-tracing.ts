/**
 * The app's `Tracing` through OpenTelemetry on Node, exported over OTLP/HTTP. main.ts imports
 * this file only when OTEL_EXPORTER_OTLP_ENDPOINT is set, so without it the SDK is never loaded.
 * The exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself (endpoint, headers,
 * timeout); OTEL_SERVICE_NAME names the service (default edge-token-handler).
 */
import { SpanKind, SpanStatusCode, context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Tracing } from '../../app/tracing.js';

/** `Tracing` over any OpenTelemetry tracer (the SDK's below, or a test's). */
export function otelTracing(tracer: Tracer): Tracing {
  return {
    span(name, kind, fn) {
      return tracer.startActiveSpan(name, { kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL }, async (span) => {
        try {
          return await fn({
            setAttribute: (key, value) => void span.setAttribute(key, value),
            fail: (reason) => void span.setStatus({ code: SpanStatusCode.ERROR, message: reason }),
          });
        } finally {
          span.end();
        }
      });
    },
    inject(headers) {
      propagation.inject(context.active(), headers, { set: (carrier, key, value) => carrier.set(key, value) });
    },
  };
}

/** The SDK registered globally (context manager, W3C propagator) with a batching OTLP exporter. */
export function startOtelTracing(env: Readonly<Record<string, string | undefined>>): { tracing: Tracing; shutdown(): Promise<void> } {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] || 'edge-token-handler' }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  return { tracing: otelTracing(trace.getTracer('edge-token-handler')), shutdown: () => provider.shutdown() };
}
