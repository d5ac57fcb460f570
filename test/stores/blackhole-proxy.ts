/**
 * A test double for the network, not for Redis: a TCP relay on loopback in front of a real server
 * that can black-hole the connections it carries (they stay open, nothing goes through, as when
 * a failed-over primary's address stops answering or a route drops without a reset), while new
 * connections get through again. No real part does that on one machine without root network rules.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class BlackholeProxy {
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<BlackholeProxy> {
    let proxy: BlackholeProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection(targetPort, '127.0.0.1');
      const pair = { client, upstream, dead: false };
      proxy!.#pairs.add(pair);
      client.on('data', (chunk) => pair.dead || upstream.write(chunk));
      upstream.on('data', (chunk) => pair.dead || client.write(chunk));
      const close = () => {
        client.destroy();
        upstream.destroy();
        proxy!.#pairs.delete(pair);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new BlackholeProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  /** Every connection open now goes silent for good; later ones are relayed. */
  blackholeOpenConnections(): number {
    for (const pair of this.#pairs) pair.dead = true;
    return this.#pairs.size;
  }

  /** Connections still relayed. */
  get liveConnections(): number {
    return [...this.#pairs].filter((pair) => !pair.dead).length;
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}
