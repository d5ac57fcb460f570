/**
 * Node side of the workerd project: a relay for the provider's back-channel logout deliveries.
 * The provider runs in Node and the Worker under test inside workerd, where nothing listens for
 * HTTP from outside. So a relay URL stands in as the client's `backchannel_logout_uri`: the
 * provider's POST is held open here, the workerd test picks it up (`GET …/next`), hands the very
 * request to the Worker, and posts the Worker's answer back (`POST …/answers/<n>`), which is what
 * the provider then receives. A test-only FAKE of the network path between the two, nothing more:
 * the logout token is the provider's and the answer is the Worker's.
 *
 *   POST /relays                     → { id, url }   (url: the backchannel_logout_uri to register)
 *   POST /relays/<id>/deliver        ← the provider; answered with the Worker's answer
 *   GET  /relays/<id>/next           → { n, contentType, body } of the next delivery (long poll)
 *   POST /relays/<id>/answers/<n>    ← { status, contentType, body } from the test
 */

export interface RelayedDelivery {
  readonly n: number;
  readonly contentType: string;
  readonly body: string;
}

export interface RelayedAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** How long a delivery or a poll is held before it is given up (the provider times out sooner). */
const HOLD_MS = 10_000;

interface Relay {
  readonly waiting: RelayedDelivery[];
  readonly pollers: ((delivery: RelayedDelivery) => void)[];
  readonly answers: Map<number, (answer: RelayedAnswer) => void>;
  next: number;
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function held<T>(register: (resolve: (value: T) => void) => void, onTimeout: () => void): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onTimeout();
      resolve(undefined);
    }, HOLD_MS);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

export function createDeliveryRelays(baseUrl: () => string): (request: Request, path: readonly string[]) => Promise<Response> {
  const relays = new Map<string, Relay>();
  let count = 0;

  return async (request, [id, what, n]) => {
    if (request.method === 'POST' && id === undefined) {
      const fresh = String(++count);
      relays.set(fresh, { waiting: [], pollers: [], answers: new Map(), next: 0 });
      return json(200, { id: fresh, url: `${baseUrl()}/relays/${fresh}/deliver` });
    }
    const relay = id === undefined ? undefined : relays.get(id);
    if (!relay) return json(404, { error: 'no such relay' });

    if (request.method === 'POST' && what === 'deliver') {
      const delivery: RelayedDelivery = { n: ++relay.next, contentType: request.headers.get('content-type') ?? '', body: await request.text() };
      const answered = held<RelayedAnswer>((resolve) => relay.answers.set(delivery.n, resolve), () => relay.answers.delete(delivery.n));
      const poller = relay.pollers.shift();
      if (poller) poller(delivery);
      else relay.waiting.push(delivery);
      const answer = await answered;
      if (!answer) return json(504, { error: 'the test never answered this delivery' });
      return new Response(answer.body, { status: answer.status, headers: { 'content-type': answer.contentType } });
    }
    if (request.method === 'GET' && what === 'next') {
      const ready = relay.waiting.shift();
      if (ready) return json(200, ready);
      let mine: ((delivery: RelayedDelivery) => void) | undefined;
      const delivery = await held<RelayedDelivery>(
        (resolve) => relay.pollers.push((mine = resolve)),
        () => relay.pollers.splice(relay.pollers.indexOf(mine!), 1),
      );
      return delivery ? json(200, delivery) : json(408, { error: 'no delivery came' });
    }
    if (request.method === 'POST' && what === 'answers' && n !== undefined) {
      const resolve = relay.answers.get(Number(n));
      if (!resolve) return json(404, { error: 'no such delivery waiting' });
      relay.answers.delete(Number(n));
      resolve((await request.json()) as RelayedAnswer);
      return json(200, {});
    }
    return json(405, { error: 'method not allowed' });
  };
}
