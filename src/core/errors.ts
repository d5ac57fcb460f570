/**
 * The one error type of the token handler. Each code has one HTTP status and one `error_code` on
 * the wire. `detail` is the short, bland `detailed_error` the browser sees; anything more precise
 * (a library's message, a failed claim) goes in `cause`, which only reaches the log.
 */

import type { SetCookie } from './session/cookie-table.js';

export const ERROR_STATUS = {
  invalid_request: 400,
  authorization_error: 400,
  /** An error the IdP returned on the authorization response; its own code goes on the wire. */
  authorization_response_error: 400,
  unauthorized_request: 401,
  login_required: 401,
  session_expired: 401,
  token_expired: 401,
  not_found: 404,
  method_not_allowed: 405,
  request_too_large: 413,
  request_header_too_large: 431,
  unsupported_media_type: 415,
  server_error: 500,
  authorization_server_error: 502,
  upstream_unavailable: 502,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class TokenHandlerError extends Error {
  override readonly name = 'TokenHandlerError';
  readonly status: number;
  /** What goes in `error_code`; equal to `code` except for errors relayed from the IdP. */
  readonly wireCode: string;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    options?: { cause?: unknown; wireCode?: string; reason?: string; setCookies?: readonly SetCookie[]; allow?: string },
  ) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = ERROR_STATUS[code];
    this.wireCode = options?.wireCode ?? code;
    this.reason = options?.reason ?? code;
    this.setCookies = options?.setCookies ?? [];
    this.allow = options?.allow;
  }

  /** For 405: the methods the resource does accept. */
  readonly allow: string | undefined;

  /** Cookies the error response must still set or clear (a used login transaction, a dead session). */
  readonly setCookies: readonly SetCookie[];

  /** A short machine-readable reason for the log line (e.g. `state_unknown`). */
  readonly reason: string;
}

export function isTokenHandlerError(error: unknown): error is TokenHandlerError {
  return error instanceof TokenHandlerError;
}
