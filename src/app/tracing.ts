/**
 * Traces (contract §8) around what the token handler does and waits for: a span per agent
 * operation, per call to the IdP and per proxied call, with `traceparent` passed to the IdP and
 * the upstream. The app sees only this small interface; the Node adapter implements it with
 * OpenTelemetry (adapters/node/otel-tracing.ts) when OTEL_EXPORTER_OTLP_ENDPOINT is set. Without
 * it nothing here is applied: no wrapper, no span, no header.
 */
import type { Agent } from '../core/agent/agent.js';
import type { UpstreamTransport } from '../core/ports.js';

export interface TraceSpan {
  setAttribute(name: string, value: string | number | boolean): void;
  /** Marks the span failed; `reason` is a fixed word, never input. */
  fail(reason: string): void;
}

export interface Tracing {
  /** Runs `fn` in a new span, a child of the active one, ended when `fn` settles. */
  span<T>(name: string, kind: 'internal' | 'client', fn: (span: TraceSpan) => Promise<T>): Promise<T>;
  /** Writes the active span's `traceparent` (and `tracestate`) into `headers` (a `Headers`, or the proxy's HeaderBag). */
  inject(headers: { set(name: string, value: string): void }): void;
}

/** The agent with each operation in a span `agent <operation>` (the IdP calls inside become its children). */
export function tracedAgent(agent: Agent, tracing: Tracing): Agent {
  const traced: Record<string, unknown> = { ...agent };
  for (const [name, value] of Object.entries(agent)) {
    if (typeof value !== 'function') continue;
    traced[name] = (...args: unknown[]) =>
      tracing.span(`agent ${name}`, 'internal', async (span) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(agent, args);
        } catch (error) {
          span.fail(reasonOf(error));
          throw error;
        }
      });
  }
  return traced as unknown as Agent;
}

/** The IdP's fetch: a client span per call, its `traceparent` sent along. */
export function tracedFetch(inner: typeof fetch, tracing: Tracing): typeof fetch {
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return tracing.span(`idp ${init?.method ?? 'GET'} ${url.pathname.split('/').filter(Boolean).at(-1) ?? '/'}`, 'client', async (span) => {
      span.setAttribute('http.request.method', init?.method ?? 'GET');
      span.setAttribute('server.address', url.host);
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      tracing.inject(headers);
      try {
        const response = await inner(input, { ...init, headers });
        span.setAttribute('http.response.status_code', response.status);
        return response;
      } catch (error) {
        span.fail('idp_unreachable');
        throw error;
      }
    });
  }) as typeof fetch;
}

/** An upstream transport: a client span per proxied call, its `traceparent` sent upstream. */
export function tracedTransport<Req, Res>(inner: UpstreamTransport<Req, Res>, tracing: Tracing): UpstreamTransport<Req, Res> {
  return {
    send: (call) =>
      tracing.span(`upstream ${call.method}`, 'client', async (span) => {
        span.setAttribute('http.request.method', call.method);
        span.setAttribute('server.address', call.origin?.host ?? new URL(call.url).host);
        // Replaces any traceparent the browser sent: the upstream's parent is this call.
        tracing.inject(call.headers);
        try {
          const answer = await inner.send(call);
          span.setAttribute('http.response.status_code', answer.status);
          return answer;
        } catch (error) {
          span.fail('upstream_unreachable');
          throw error;
        }
      }),
    ...(inner.discard ? { discard: (answer) => inner.discard!(answer) } : {}),
  };
}

function reasonOf(error: unknown): string {
  const reason = (error as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' ? reason : 'unexpected_error';
}
