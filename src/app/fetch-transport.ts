/**
 * The upstream transport over the Fetch API: what the Hono route uses where the platform's fetch
 * passes bodies through untouched (Workers; there a compressed answer stays compressed when it is
 * returned unread). Never follows redirects.
 */
import type { UpstreamTransport } from '../core/ports.js';
import { answerHasNoBody } from '../core/proxy/bodies.js';
import type { WebBody } from './context.js';
import { upstreamUnavailable } from './proxy-pipeline.js';

export function createFetchTransport(fetchImpl: typeof fetch = (input, init) => fetch(input, init)): UpstreamTransport<WebBody, WebBody> {
  return {
    async send(call) {
      // The timeout covers the wait for the upstream's answer once the request has gone out: not a
      // long upload (the upstream cannot answer before it has the body), nor the streaming of a
      // long response. A client that goes away is the platform's to handle: its request body
      // errors, and the response stream it no longer reads is cancelled, which closes the call.
      const timeout = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      let answered = false;
      const startTimer = () => {
        // An upstream may answer before the body has all arrived (a 413, a streaming echo): no timer then.
        if (!answered) timer = setTimeout(() => timeout.abort(new Error('upstream timeout')), call.timeout);
      };
      let body = call.body;
      if (body) body = body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: startTimer }));
      else startTimer();
      let response: Response;
      try {
        response = await fetchImpl(call.url, {
          method: call.method,
          headers: call.headers.pairs(),
          body,
          redirect: 'manual',
          signal: timeout.signal,
          ...(body ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (cause) {
        throw upstreamUnavailable(timeout.signal.aborted ? 'upstream_timeout' : 'upstream_unreachable', cause);
      } finally {
        answered = true;
        clearTimeout(timer);
      }
      if (response.status < 200 || response.status > 599) {
        // A status the Fetch API cannot carry on (e.g. 600): the upstream is broken, not the token handler.
        void response.body?.cancel().catch(() => {});
        throw upstreamUnavailable('upstream_bad_status');
      }
      const noBody = answerHasNoBody(call.method, response.status);
      if (noBody) void response.body?.cancel().catch(() => {});
      return { status: response.status, statusText: response.statusText, headers: response.headers, body: noBody ? null : response.body };
    },
    discard(answer) {
      void answer.body?.cancel().catch(() => {});
    },
  };
}
