/**
 * The request guards of contract §4: the CSRF checks every state-changing request must pass, and
 * CORS for trusted origins other than the public origin.
 */
import type { Config } from '../core/types.js';
import { TokenHandlerError, type Reason } from '../core/errors.js';
import type { HeaderView } from '../core/ports.js';

export const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Twice the session's cookie budget (MAX_SESSION_COOKIE_BYTES), and the older Cloudflare total of 32 KB for every header. */
export const MAX_COOKIE_HEADER_BYTES = 32 * 1024;
export const MAX_HEADER_BYTES = 48 * 1024;

/**
 * Refused before any parsing: on platforms with generous limits (Workers allows 128 KB) nobody
 * legitimate sends this much, and the token handler never sets more than a session's budget.
 */
export function assertHeaderSize(headers: HeaderView): void {
  let size = 0;
  headers.forEach((value, name) => {
    size += name.length + value.length + 4;
  });
  const cookie = headers.get('cookie')?.length ?? 0;
  if (cookie > MAX_COOKIE_HEADER_BYTES || size > MAX_HEADER_BYTES) {
    throw new TokenHandlerError('request_header_too_large', { reason: cookie > MAX_COOKIE_HEADER_BYTES ? 'cookie_header_too_large' : 'headers_too_large' });
  }
}

/**
 * Throws 401 `unauthorized_request` unless the request carries `token-handler-version: 1`, any
 * `Sec-Fetch-Site` says same-origin (or same-site when other origins are trusted), and any
 * `Origin` is trusted. The custom header forces a CORS preflight on cross-site callers, which they
 * cannot pass; Fetch Metadata and Origin are checked as well, since either alone can be missing.
 */
export function assertCsrfSafe(headers: HeaderView, config: Config): void {
  const refuse = (reason: Reason) => new TokenHandlerError('unauthorized_request', { detail: 'The request failed the cross-site request checks', reason });
  if (headers.get('token-handler-version') !== '1') throw refuse('csrf_header_missing');
  const site = headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin' && !(site === 'same-site' && config.trustedOrigins.length > 1)) {
    throw refuse('fetch_site_not_allowed');
  }
  const origin = headers.get('origin');
  if (origin !== null && !config.trustedOrigins.includes(origin)) throw refuse('origin_untrusted');
}

/** CORS response headers for a trusted origin other than the public one; none otherwise. */
export function corsHeaders(origin: string | null, config: Config): Headers | undefined {
  if (origin === null || origin === config.publicOrigin || !config.trustedOrigins.includes(origin)) return undefined;
  return new Headers({
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    vary: 'Origin',
  });
}

/** The answer to a CORS preflight; never forwarded upstream. */
export function preflightHeaders(origin: string | null, methods: readonly string[], config: Config): Headers {
  const cors = corsHeaders(origin, config);
  if (!cors) {
    throw new TokenHandlerError('unauthorized_request', { detail: 'The origin is not trusted', reason: 'preflight_origin_untrusted' });
  }
  cors.set('access-control-allow-methods', methods.join(', '));
  cors.set('access-control-allow-headers', ['token-handler-version', 'content-type', ...config.corsAllowHeaders].join(', '));
  cors.set('access-control-max-age', '600');
  return cors;
}
