/**
 * The one answer to a token handler that cannot start (bad settings, a secret KMS would not
 * decrypt), for every platform: a log line naming what is wrong, and a JSON 500 for every request
 * that names only the variables, never a value. Node prints the text and exits instead.
 */
import { ConfigError } from '../config/parse.js';
import { TokenHandlerError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import { describeCause } from './log.js';
import { errorResponse } from './responses.js';

export interface StartupFailure {
  /** One JSON log line: `config_invalid` with the problems, or `startup_failed` with the cause. */
  readonly logLine: string;
  /** For a terminal: every problem on its own line. */
  readonly text: string;
  /** The answer to every request while the failure lasts. */
  response(): Response;
}

export function startupFailure(error: unknown, now: Clock): StartupFailure {
  const time = new Date(now()).toISOString();
  if (error instanceof ConfigError) {
    // Every problem names its variable; the browser gets only the names, the log the problems
    // (parseConfig never puts a secret's value in a problem).
    const names = [...new Set(error.problems.flatMap((p) => p.match(/\bTH_[A-Z0-9_]+/g) ?? []))];
    const detail = `The token handler is misconfigured; check ${names.join(', ') || 'its settings'}`;
    return {
      logLine: JSON.stringify({ time, level: 'error', msg: 'config_invalid', variables: names, problems: error.problems }),
      text: error.message,
      response: () => errorResponse(new TokenHandlerError('server_error', { reason: 'config_invalid', detail })),
    };
  }
  const cause = describeCause(error);
  return {
    logLine: JSON.stringify({ time, level: 'error', msg: 'startup_failed', reason: 'config_unavailable', cause }),
    text: `The token handler failed to start: ${cause ?? 'unknown error'}`,
    response: () => errorResponse(new TokenHandlerError('server_error', { reason: 'startup_failed', detail: 'The token handler failed to start' })),
  };
}
