/**
 * `edge-token-handler check-config [--file <edge-config.json>]`: the validation the token handler
 * runs at start-up, without starting it. From the environment (Node, containers: the `TH_*`
 * settings plus PORT, HOST and SHUTDOWN_GRACE), or from the Lambda@Edge configuration file (the
 * check `npm run build:edge` makes; KMS ciphertext is accepted as it is, not decrypted). Every
 * problem at once; no value is ever printed.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { readServerSettings } from '../adapters/node/server-settings.js';
import { plaintextSecrets, validateEdgeSettings } from '../config/from-bundle.js';
import { ConfigError, parseConfig, type Config } from '../config/parse.js';
import type { CliIo, Command, ExitCode } from './io.js';
import { wantsHelp } from './io.js';

export const checkConfig: Command = {
  usage: [
    'usage: edge-token-handler check-config [--file <edge-config.json>]',
    '',
    'Checks the TH_* settings as the token handler would at start-up and lists every problem.',
    'Without --file it reads the environment (and PORT, HOST, SHUTDOWN_GRACE); with --file, the',
    'Lambda@Edge configuration file. Exits 0 when the configuration is valid, 1 when it is not.',
  ].join('\n'),
  async run(args, io) {
    if (wantsHelp(args)) {
      io.out(checkConfig.usage);
      return 0;
    }
    const { values } = parseArgs({ args: [...args], options: { file: { type: 'string' } } });
    return values.file === undefined ? checkEnvironment(io) : checkFile(values.file, io);
  },
};

function checkEnvironment(io: CliIo): ExitCode {
  const { problems } = readServerSettings(io.env);
  let config: Config | undefined;
  try {
    config = parseConfig(io.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  return report(problems, [], config, 'the environment', io);
}

async function checkFile(path: string, io: CliIo): Promise<ExitCode> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    // A JSON parser's message can quote the file's text, which may hold a secret: name the failure only.
    const why = error instanceof SyntaxError ? 'is not valid JSON' : `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    return report([`${path} ${why}`], [], undefined, path, io);
  }
  try {
    const { settings, config } = validateEdgeSettings(json);
    const warnings = plaintextSecrets(settings).map((name) => `${name} is in plaintext and would be readable in function.zip; encrypt it with edge-token-handler encrypt-secret`);
    return report([], warnings, config, path, io);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return report([...error.problems], [], undefined, path, io);
  }
}

function report(problems: readonly string[], warnings: readonly string[], config: Config | undefined, source: string, io: CliIo): ExitCode {
  for (const warning of warnings) io.err(`warning: ${warning}`);
  if (problems.length > 0 || !config) {
    io.err(`${source}: ${new ConfigError(problems).message}`);
    return 1;
  }
  const routes = config.apiRoutes.map((r) => `${r.prefix} -> ${r.upstream}`).join(', ') || 'none';
  io.out(`${source}: the configuration is valid (issuer ${config.issuer}, agent ${config.agentPath}, API routes: ${routes})`);
  return 0;
}
