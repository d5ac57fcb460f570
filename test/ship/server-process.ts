/**
 * A token handler as its own process (the way a container runs it), for the shipping tests: its
 * stdout is read as JSON log lines, and tests wait for a line or for the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  /** Resolves with the first log line (now or later) that matches; rejects if the process exits first. */
  waitFor(predicate: (line: LogLine) => boolean): Promise<LogLine>;
  /** The listening URL, once the process logged it. */
  url(): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  stop(): void;
}

export function startServerProcess(args: readonly string[], env: Readonly<Record<string, string>>, cwd: string): ServerProcess {
  // Only what is given: no TH_* of the developer's shell leaks in.
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiters: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: 'not_json', text };
    }
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.predicate(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.once('exit', (code, signal) => setImmediate(() => resolve({ code, signal, stderr }))),
  );
  const waitFor = (predicate: (line: LogLine) => boolean) => {
    const seen = lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return Promise.race([
      new Promise<LogLine>((resolve) => waiters.push({ predicate, resolve })),
      exited.then(({ code, stderr: err }) => {
        throw new Error(`the server exited (${code}) before the expected log line; stderr: ${err}; stdout: ${JSON.stringify(lines)}`);
      }),
    ]);
  };
  return {
    child,
    lines,
    waitFor,
    url: async () => String((await waitFor((l) => l.msg === 'listening'))['url']),
    exited,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
