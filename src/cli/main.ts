#!/usr/bin/env node
/** The `edge-token-handler` command (package.json `bin`). Runs on load; nothing imports it. */
import { runCli } from './run.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  readStdin,
  stdinIsTerminal: process.stdin.isTTY === true,
  now: Date.now,
});
