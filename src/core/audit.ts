/**
 * Audit events (contract §8): what InfoSec reads, one JSON line each with `"type": "audit"`. The
 * core only says what happened (an {@link AuditRecord} in an operation's result); the app adds the
 * time and request id, hashes the session id and writes the line (app/request-log.ts `audit`).
 * The schema is docs/audit-event.schema.json; a test keeps this file, the schema and the README's
 * table in step. Never a token, code, cookie value or session id in the clear.
 */

/** Every audit event, with what it means (the README's table is checked against these). */
export const AUDIT_EVENTS = {
  login: 'A login callback (`POST /login/end` with a code or an error): success starts a new session; failure says why.',
  refresh: '`POST /refresh`: the session got new tokens, or why it did not.',
  logout: '`POST /logout`: the session\'s cookies were cleared (and its refresh token revoked when configured).',
  session_rejected: 'Cookies that open but do not make one session (contract §3, "One session, one id"); they are cleared.',
  retired_key_used: 'A session cookie opened with a cookie key that is no longer the first one (rotation in progress).',
  backchannel_logout: 'The IdP ended a session server-to-server (OIDC Back-Channel Logout).',
  session_revoked: 'A session was revoked in the store; its cookies are refused from then on.',
  refresh_coordinated: 'A refresh was answered from another request\'s refresh of the same session (one grant per session).',
} as const;

export type AuditEventName = keyof typeof AUDIT_EVENTS;
export type AuditOutcome = 'success' | 'failure';

/** What an operation reports; the app turns it into the line of docs/audit-event.schema.json. */
export interface AuditRecord {
  readonly event: AuditEventName;
  readonly outcome: AuditOutcome;
  /** A reason from core/errors.ts REASONS (or a session rejection): a fixed word, never input. */
  readonly reason?: string;
  /** The session's id, hashed by the app before it is written; never logged as it is. */
  readonly sessionId?: string;
  /** The subject, on a successful login only: it ties the session hash to a person once. */
  readonly sub?: string;
  /** The id (not the secret) of the cookie key that opened a value: retired_key_used only. */
  readonly keyId?: string;
}

/** The line's fields in their order: the JSON Schema's `properties` (a test keeps them equal). */
export const AUDIT_FIELDS = ['type', 'time', 'level', 'msg', 'event', 'outcome', 'reason', 'request_id', 'session', 'sub', 'key_id'] as const;

const encoder = new TextEncoder();

/**
 * The session id as audit lines carry it: SHA-256 over a fixed label and the id, first 16 bytes in
 * base64url. Session ids are 128 random bits, so it cannot be turned back; the label keeps it from
 * equalling a hash used elsewhere (a store key).
 */
export async function auditSessionHash(sessionId: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(`edge-token-handler audit session\u0000${sessionId}`)));
  return btoa(String.fromCharCode(...digest.subarray(0, 16))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
