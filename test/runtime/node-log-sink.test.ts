/**
 * The Node process's buffered log sink (src/adapters/node/log-sink.ts): info lines gathered into
 * one write per event-loop turn, warn/error/audit lines written at once and after what was
 * gathered, and nothing lost when the process ends normally (run as a child process, stdout read).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/app/log.js';
import { createBufferedLogSink } from '../../src/adapters/node/log-sink.js';

const ROOT = new URL('../../', import.meta.url).pathname;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function recording(maxChars?: number) {
  const writes: string[] = [];
  const out = createBufferedLogSink((chunk) => void writes.push(chunk), setImmediate, maxChars);
  return { writes, out };
}

describe('the buffered sink', () => {
  it('writes the info lines of a turn with one write, once the turn is over', async () => {
    const { writes, out } = recording();
    out.sink('{"n":1}');
    out.sink('{"n":2}');
    out.sink('{"n":3}');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n']);
    out.sink('{"n":4}');
    await nextTurn();
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n', '{"n":4}\n']);
  });

  it('writes a warn before the turn ends, after the info lines gathered before it', async () => {
    const { writes, out } = recording();
    const logger = createLogger('info', out.sink, () => 0);
    logger.log('info', 'first');
    logger.log('info', 'second');
    logger.log('warn', 'third');
    // Still in the same turn: the warn is out, and the two info lines with it, in their order.
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['first', 'second', 'third']);
    logger.log('info', 'fourth');
    await nextTurn();
    expect(writes.slice(1)).toEqual([`${JSON.stringify({ time: new Date(0).toISOString(), level: 'info', msg: 'fourth' })}\n`]);
  });

  it('writes what it holds as soon as it reaches its bound, without waiting for the turn', () => {
    const { writes, out } = recording(100);
    const line = 'x'.repeat(40);
    out.sink(line);
    out.sink(line);
    expect(writes).toEqual([]);
    out.sink(line);
    expect(writes).toEqual([`${line}\n${line}\n${line}\n`]);
  });

  it('writes nothing when it holds nothing', async () => {
    const { writes, out } = recording();
    out.flush();
    out.sink('urgent', true);
    await nextTurn();
    expect(writes).toEqual(['urgent\n']);
  });
});

/**
 * Runs a script (ESM, through tsx) as its own process and gives back what reached its stdout.
 * `lagging`: stdout is not read until the script says `reading` on stderr, as a slow log collector.
 */
function runScript(script: string, lagging = false): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  if (lagging) {
    child.stdout.pause();
    child.stderr.on('data', (chunk: Buffer) => chunk.toString().includes('reading') && child.stdout.resume());
  } else {
    child.stderr.resume();
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, lines: stdout.split('\n').filter(Boolean) }));
  });
}

const LOGGING = `
  const { stdoutLogSink } = await import('./src/adapters/node/log-sink.ts');
  const { sink } = stdoutLogSink();
  for (let i = 0; i < 500; i++) sink(JSON.stringify({ level: 'info', n: i }));
`;
const ALL = Array.from({ length: 500 }, (_, i) => JSON.stringify({ level: 'info', n: i }));

describe('stdout on a normal exit', () => {
  it('has every line when the event loop runs dry', async () => {
    expect(await runScript(LOGGING)).toEqual({ code: 0, lines: ALL });
  });

  it('has every line when the process exits in the turn that logged them', async () => {
    expect(await runScript(`${LOGGING} process.exit(3);`)).toEqual({ code: 3, lines: ALL });
  });

  it('has every line when main.ts drains (drained(), then process.exit), even with a reader that lags', async () => {
    // Far more than a pipe and the reader's buffer hold: most of it is still queued in the process when it exits.
    const script = `
      const { stdoutLogSink } = await import('./src/adapters/node/log-sink.ts');
      const out = stdoutLogSink();
      for (let i = 0; i < 20000; i++) out.sink(JSON.stringify({ level: 'info', n: i }));
      process.stderr.write('reading');
      await out.drained(60_000);
      process.exit(0);
    `;
    const { code, lines } = await runScript(script, true);
    expect(code).toBe(0);
    expect(lines).toEqual(Array.from({ length: 20000 }, (_, i) => JSON.stringify({ level: 'info', n: i })));
  });

  it('has every line when an uncaught exception ends the process in the turn that logged them', async () => {
    expect(await runScript(`${LOGGING} throw new Error('boom');`)).toEqual({ code: 1, lines: ALL });
  });
});
