/**
 * toWebBody: an answer's Node stream as the Hono route's Web stream. Chunks arrive in order, the
 * end closes it, an answer cut short errors it (a reader never waits for bytes that will not
 * come), and cancelling it while the Node stream still holds chunks (a DPoP retry lets go of the
 * first answer) enqueues nothing more: Node's own Readable.toWeb throws there, an uncaught
 * exception that ends the process (seen in the full test run; this file reproduces it).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { toWebBody } from '../../../src/adapters/node/http-transport.js';

class Source extends Readable {
  override _read(): void {}
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString('latin1');
  return text;
}

describe('toWebBody', () => {
  it('passes the chunks on in order and closes at the end', async () => {
    const source = new Source();
    const web = toWebBody(source);
    for (const part of ['a', 'b', 'c']) source.push(Buffer.from(part));
    source.push(null);
    expect(await readAll(web)).toBe('abc');
  });

  it('holds the Node stream back while the reader does not read (backpressure)', async () => {
    const source = new Source({ highWaterMark: 16 * 1024 });
    const web = toWebBody(source);
    for (let i = 0; i < 20; i++) source.push(Buffer.alloc(16 * 1024, 65 + i));
    await turn();
    expect(source.isPaused()).toBe(true);
    source.push(null);
    expect((await readAll(web)).length).toBe(20 * 16 * 1024);
  });

  it('errors the reader when the answer is cut short', async () => {
    const source = new Source();
    const web = toWebBody(source);
    source.push(Buffer.from('partial'));
    const reading = readAll(web);
    await turn();
    source.destroy();
    await expect(reading).rejects.toThrow(/ended early/);
  });

  it('enqueues nothing once cancelled, even with chunks still buffered in the Node stream', async () => {
    const source = new Source({ highWaterMark: 64 * 1024 });
    const web = toWebBody(source);
    const reader = web.getReader();
    // More than the Web stream's queue takes: the Node stream pauses with the rest buffered.
    for (let i = 0; i < 40; i++) source.push(Buffer.alloc(16 * 1024, i));
    await turn();
    // A read (which resumes the Node stream on its next tick) and a cancel in the same turn.
    void reader.read();
    await reader.cancel();
    await turn();
    await turn();
    expect(source.destroyed).toBe(true);
  });
});
