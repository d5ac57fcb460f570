/**
 * A test double for the network, not for the engine behind it: a TCP relay on loopback in front of
 * a real server that can black-hole the connections it carries (they stay open, nothing goes
 * through, as when a failed-over primary's address stops answering or a route drops without a
 * reset) while new connections get through, or lose one answer (the request reaches the server,
 * its answer never comes back). No real part does that on one machine without root network rules.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class FaultyRelay {
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();
  #dropNextAnswer = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<FaultyRelay> {
    let relay: FaultyRelay | undefined;
    const server = createServer((client) => {
      const upstream = createConnection(targetPort, '127.0.0.1');
      const pair = { client, upstream, dead: false };
      relay!.#pairs.add(pair);
      client.on('data', (chunk) => pair.dead || upstream.write(chunk));
      upstream.on('data', (chunk) => {
        if (pair.dead) return;
        if (relay!.#dropNextAnswer) {
          relay!.#dropNextAnswer = false;
          client.destroy();
          return;
        }
        client.write(chunk);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
        relay!.#pairs.delete(pair);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new FaultyRelay(server, (server.address() as { port: number }).port);
    return relay;
  }

  /** Every connection open now goes silent for good; later ones are relayed. */
  blackholeOpenConnections(): number {
    for (const pair of this.#pairs) pair.dead = true;
    return this.#pairs.size;
  }

  /** The next answer from the server is not passed on: its connection is reset instead. */
  dropNextAnswer(): void {
    this.#dropNextAnswer = true;
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
