/**
 * A loopback HTTP front for a Lambda@Edge handler, for callers that only speak HTTP (the
 * provider's back-channel logout deliveries): each request becomes a CloudFront origin-request
 * event (cloudfront.ts, the documented shape) for the handler of the moment, and the function's
 * generated response goes back as the HTTP answer. Like cloudfront.ts, a hand-made FAKE of
 * CloudFront's side; the handler is the real one. Only generated responses are served: a request
 * the function hands back to CloudFront (a proxied call) is answered 502, nothing here forwards it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudFrontResultResponse } from 'aws-lambda';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { isRequest, originRequestEvent } from './cloudfront.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

export interface BridgedRequest {
  readonly method: string;
  readonly target: string;
  readonly body: string;
  /** The status the function answered. */
  readonly status: number;
}

export class EdgeHttpBridge {
  /** The handler the next request goes to; switch it to choose the instance. */
  target: EdgeHandler | undefined;
  /** Every request that came in, with the function's answer, in order. */
  readonly requests: BridgedRequest[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<EdgeHttpBridge> {
    let bridge: EdgeHttpBridge | undefined;
    const server = createServer((req, res) => {
      void bridge!.answer(req).then(
        ({ status, headers, body }) => res.writeHead(status, headers).end(body),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`bridge: ${String(error)}`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    bridge = new EdgeHttpBridge(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return bridge;
  }

  private async answer(req: IncomingMessage): Promise<{ status: number; headers: [string, string][]; body: Buffer }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const handler = this.target;
    if (!handler) throw new Error('no handler to bridge to');
    const headers: [string, string][] = [];
    // CloudFront ends the viewer's connection itself: its hop-by-hop headers never reach the function.
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (!HOP_BY_HOP.has(req.rawHeaders[i]!.toLowerCase())) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const result = await handler(originRequestEvent({ method, target, headers, ...(body !== '' ? { body } : {}) }));
    if (isRequest(result)) {
      this.requests.push({ method, target, body, status: 502 });
      return { status: 502, headers: [['content-type', 'text/plain']], body: Buffer.from('bridge: the function handed the request to CloudFront') };
    }
    const generated = result as CloudFrontResultResponse;
    const status = Number(generated.status);
    this.requests.push({ method, target, body, status });
    const out: [string, string][] = [];
    for (const entries of Object.values(generated.headers ?? {})) for (const { key, value } of entries) out.push([key ?? '', value]);
    const raw = generated.body ?? '';
    return { status, headers: out.filter(([name]) => name !== ''), body: Buffer.from(raw, generated.bodyEncoding === 'base64' ? 'base64' : 'utf8') };
  }

  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    await closed;
  }
}
