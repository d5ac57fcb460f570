/** What a command may touch, so that tests run commands in-process and the bin wires in the real ones. */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** One line of output (the result: a key, a ciphertext). */
  readonly out: (line: string) => void;
  /** One line for the person at the terminal (problems, hints). */
  readonly err: (line: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly stdinIsTerminal: boolean;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

/** Exit codes: 0 done, 1 the input is wrong (a bad setting, a KMS refusal), 2 the command line is wrong. */
export type ExitCode = 0 | 1 | 2;

export interface Command {
  readonly usage: string;
  run(args: readonly string[], io: CliIo): Promise<ExitCode>;
}

export const wantsHelp = (args: readonly string[]) => args.includes('--help') || args.includes('-h');
