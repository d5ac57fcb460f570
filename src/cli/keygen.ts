/**
 * `edge-token-handler keygen`: one `TH_COOKIE_KEYS` entry, `k<yyyymmdd>:<secret>`, the secret 32
 * random bytes in base64url. The date in the id says when the key was made, so the oldest key in a
 * rotated list is easy to spot.
 */
import { parseArgs } from 'node:util';
import type { Command } from './io.js';
import { wantsHelp } from './io.js';

const KEY_ID = /^[A-Za-z0-9_]{1,32}$/;

export function generateCookieKey(now: number, id?: string): string {
  const keyId = id ?? `k${new Date(now).toISOString().slice(0, 10).replaceAll('-', '')}`;
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  return `${keyId}:${secret}`;
}

export const keygen: Command = {
  usage: [
    'usage: edge-token-handler keygen [--id <id>]',
    '',
    'Prints one TH_COOKIE_KEYS entry, k<yyyymmdd>:<32 random bytes, base64url>, on standard output.',
    'To rotate, put it first and keep the old key after it: TH_COOKIE_KEYS=<new>,<old>.',
    '',
    '  --id <id>   the key id instead of today\'s date (letters, digits, _); never reuse an id for another secret',
  ].join('\n'),
  async run(args, io) {
    if (wantsHelp(args)) {
      io.out(keygen.usage);
      return 0;
    }
    const { values } = parseArgs({ args: [...args], options: { id: { type: 'string' } } });
    if (values.id !== undefined && !KEY_ID.test(values.id)) {
      io.err('--id must be 1 to 32 letters, digits or _');
      return 2;
    }
    io.out(generateCookieKey(io.now(), values.id));
    return 0;
  },
};
