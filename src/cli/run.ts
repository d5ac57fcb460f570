/**
 * `edge-token-handler <command>`: the dispatcher. Each command is loaded only when it runs, so
 * `keygen` and `check-config` never load the AWS SDK.
 */
import type { CliIo, Command, ExitCode } from './io.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  keygen: { summary: 'print a new cookie key (a TH_COOKIE_KEYS entry)', load: async () => (await import('./keygen.js')).keygen },
  'check-config': { summary: 'check the settings, from the environment or --file <edge-config.json>', load: async () => (await import('./check-config.js')).checkConfig },
  'encrypt-secret': { summary: 'encrypt a secret setting with AWS KMS for Lambda@Edge', load: async () => (await import('./encrypt-secret.js')).encryptSecretCommand },
};

export const USAGE = [
  'usage: edge-token-handler <command> [options]',
  '',
  'commands:',
  ...Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(16)}${summary}`),
  '',
  'edge-token-handler <command> --help describes each one.',
].join('\n');

export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.err : io.out)(USAGE);
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    io.err(`unknown command "${name.slice(0, 40)}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await entry.load()).run(args, io);
  } catch (error) {
    // parseArgs' errors (an unknown or incomplete option) are the command line's fault.
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      io.err(`${error.message}\n\n${(await entry.load()).usage}`);
      return 2;
    }
    throw error;
  }
}
