/**
 * Every JSON answer the token handler itself writes. `Content-Type` is exactly
 * `application/json` (the SPA client library compares the string), and nothing is cached.
 */
import { TokenHandlerError } from '../core/errors.js';
import { serializeSetCookie, type SetCookie } from '../core/session/cookie-table.js';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function jsonResponse(status: number, body: unknown, cookies: readonly SetCookie[] = [], extra?: Headers): Response {
  const headers = new Headers(extra);
  headers.set('content-type', 'application/json');
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) headers.set(k, v);
  for (const cookie of cookies) headers.append('set-cookie', serializeSetCookie(cookie));
  return new Response(JSON.stringify(body), { status, headers });
}

export function errorResponse(error: TokenHandlerError, extra?: Headers): Response {
  const headers = new Headers(extra);
  if (error.code === 'method_not_allowed' && error.allow) headers.set('allow', error.allow);
  return jsonResponse(error.status, { error_code: error.wireCode, detailed_error: error.detail }, error.setCookies, headers);
}
