/**
 * What the per-request log line costs on Node, old against new, in a tight loop:
 *
 *   npx tsx bench/log-line.ts | cat > /dev/null
 *
 * (stdout a pipe, as a container's; the figures go to stderr.)
 *
 * 1. Building the line: the old way (the fields as an object spread into `JSON.stringify`, a new
 *    `Date` each time) against `requestLine` (fixed fragments, strings checked for escaping, the
 *    ISO time cached per millisecond), with the millisecond changing on every line too (no cache
 *    hit, the worst case) and a path that needs escaping.
 * 2. Writing it: `console.log` per line against the buffered stdout sink (one write per turn, or
 *    per `MAX_BUFFERED_CHARS`), CPU time of this process until stdout has taken every byte.
 *
 * Median of 5 rounds, the variants taking turns in each. Not run by `npm test`: it prints figures, it asserts nothing.
 */
import { createBufferedLogSink } from '../src/adapters/node/log-sink.js';
import { requestLine } from '../src/app/request-log.js';

const BUILD_LINES = 50_000;
const WRITE_LINES = 20_000;
const ROUNDS = 5;

const requestId = crypto.randomUUID();
const path = '/api/orders/12345/items';
const awkwardPath = '/api/search/"a\\b"/é';

function oldLine(now: () => number, id: string, method: string, p: string, status: number, started: number): string {
  // As log.ts and request-log.ts built it before: the fields object, spread into the line's object.
  const fields = { request_id: id, method, path: p, status, duration_ms: now() - started };
  return JSON.stringify({ time: new Date(now()).toISOString(), level: 'info', msg: 'request', ...fields });
}

let sinkhole = 0;

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/** µs per call of each builder, median of the rounds; the builders take turns in each round, so a busy moment of the machine falls on all of them. */
function perLine(builders: Record<string, (i: number) => string>): Record<string, number> {
  const rounds: Record<string, number[]> = Object.fromEntries(Object.keys(builders).map((name) => [name, []]));
  // Round 0 warms up.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, build] of Object.entries(builders)) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < BUILD_LINES; i++) sinkhole += build(i).length;
      const ns = Number(process.hrtime.bigint() - start);
      if (round > 0) rounds[name]!.push(ns / 1000 / BUILD_LINES);
    }
  }
  return Object.fromEntries(Object.entries(rounds).map(([name, values]) => [name, median(values)]));
}

const base = Date.now();
const building = perLine({
  'old line': () => oldLine(Date.now, requestId, 'GET', path, 200, base),
  'new line': () => requestLine(Date.now(), requestId, 'GET', path, 200, base),
  'old line, a new millisecond each': (i) => oldLine(() => base + i, requestId, 'GET', path, 200, base),
  'new line, a new millisecond each': (i) => requestLine(base + i, requestId, 'GET', path, 200, base),
  'old line, path to escape': () => oldLine(Date.now, requestId, 'GET', awkwardPath, 200, base),
  'new line, path to escape': () => requestLine(Date.now(), requestId, 'GET', awkwardPath, 200, base),
});

/** Resolves once stdout has taken every byte written so far. */
const stdoutDrained = () => new Promise<void>((resolve) => process.stdout.write('', () => resolve()));

/** CPU µs (user + system) per line of `write`, until stdout has taken it all; median of the rounds. */
async function cpuPerLine(write: (line: string) => void, flush: () => void): Promise<number> {
  const line = requestLine(base, requestId, 'GET', path, 200, base);
  const rounds: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < WRITE_LINES; i++) write(line);
    flush();
    await stdoutDrained();
    const used = process.cpuUsage(start);
    if (round > 0) rounds.push((used.user + used.system) / WRITE_LINES);
  }
  return median(rounds);
}

const buffered = createBufferedLogSink((chunk) => process.stdout.write(chunk));
const writing = {
  'console.log per line': await cpuPerLine((line) => console.log(line), () => {}),
  'buffered sink': await cpuPerLine(buffered.sink, buffered.flush),
};

const show = (figures: Record<string, number>) => Object.entries(figures).map(([name, us]) => `  ${name.padEnd(36)} ${us.toFixed(3)} µs/line`).join('\n');
console.error(`node ${process.version}, stdout ${process.stdout.isTTY ? 'a terminal' : 'not a terminal'}; command: npx tsx bench/log-line.ts | cat > /dev/null`);
console.error(`building (${BUILD_LINES} lines a round, median of ${ROUNDS}):\n${show(building)}`);
console.error(`writing (${WRITE_LINES} lines a round, CPU of this process, median of ${ROUNDS}):\n${show(writing)}`);
if (sinkhole < 0) console.error(sinkhole);
