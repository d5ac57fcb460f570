/**
 * The Node process's log sink: info and debug lines are gathered and written with one
 * `process.stdout.write` per event-loop turn (a write per line cost more than building the line);
 * urgent lines (warn, error, audit) are written at once, after what is gathered, so the order holds.
 *
 * What can be lost: nothing on a normal exit: the loop running dry (`beforeExit`), the SIGTERM
 * drain in main.ts (which waits until stdout has taken everything, `drained()`), `process.exit` or
 * an uncaught exception (`exit`: what is gathered is written then). A process killed outright
 * (SIGKILL, out of memory, a fatal signal without a handler) loses the info lines of the turn it
 * was in, at most `MAX_BUFFERED_CHARS` of them; never a warn, error or audit line, written at once.
 */
import type { LogSink } from '../../app/log.js';

export interface BufferedLogSink {
  readonly sink: LogSink;
  /** Writes what is gathered now. */
  flush(): void;
}

/** Enough for a few hundred request lines: a burst within one turn is written when it reaches this. */
export const MAX_BUFFERED_CHARS = 64 * 1024;

/** `write` gets whole lines, each ending in a newline; `schedule` runs its callback once the turn's I/O is done. */
export function createBufferedLogSink(
  write: (chunk: string) => void,
  schedule: (flush: () => void) => void = setImmediate,
  maxChars = MAX_BUFFERED_CHARS,
): BufferedLogSink {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    write(chunk);
  };
  const onTurnEnd = () => {
    // A flush since (an urgent line, the cap) may have written everything already.
    if (scheduled) flush();
  };
  return {
    flush,
    sink(line, urgent) {
      pending += line + '\n';
      if (urgent || pending.length >= maxChars) {
        flush();
      } else if (!scheduled) {
        scheduled = true;
        schedule(onTurnEnd);
      }
    },
  };
}

export interface StdoutLogSink extends BufferedLogSink {
  /**
   * Flushes, then resolves once stdout has taken every byte, or after `limitMs`: a pipe to a slow
   * reader queues what it cannot take at once, and `process.exit` drops that queue.
   */
  drained(limitMs?: number): Promise<void>;
}

let shared: StdoutLogSink | undefined;

/**
 * The one sink on stdout for the whole process (the token handler's lines, main.ts's own, EMF
 * metrics), so their order holds between them. Flushed on `beforeExit` (the loop runs on until
 * stdout has taken it) and on `exit` (`process.exit`, an uncaught exception: written at once, which
 * a pipe whose reader lags may take only in part, as with console.log before).
 */
export function stdoutLogSink(): StdoutLogSink {
  if (!shared) {
    const out = createBufferedLogSink((chunk) => process.stdout.write(chunk));
    process.on('beforeExit', out.flush);
    process.on('exit', out.flush);
    shared = {
      ...out,
      drained: (limitMs = 1_000) => {
        out.flush();
        return new Promise((resolve) => {
          const limit = setTimeout(resolve, limitMs);
          limit.unref();
          // Called once every earlier write has gone out: writes are taken in order.
          process.stdout.write('', () => {
            clearTimeout(limit);
            resolve();
          });
        });
      },
    };
  }
  return shared;
}
