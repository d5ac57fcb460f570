/**
 * The error type and its tables: the table form and the old form build the same error, the detail
 * defaults from the code, `withCookies` keeps everything (also the relayed wire code), and every
 * reason the source writes is one of the documented reasons.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ERRORS,
  ID_TOKEN_FAILURES,
  JWT_FAILURES,
  REASONS,
  REASON_FAMILIES,
  TokenHandlerError,
  isReason,
  oauthErrorForLog,
} from '../../src/core/errors.js';
import type { SetCookie } from '../../src/core/session/cookie-table.js';

const cookie = (name: string): SetCookie => ({ name, value: '', path: '/', maxAge: 0 });

describe('the table form', () => {
  it('takes the status and the detail from the code, and the reason it is given', () => {
    const error = new TokenHandlerError('invalid_request', { reason: 'state_unknown' });
    expect(error).toMatchObject({
      code: 'invalid_request',
      status: 400,
      wireCode: 'invalid_request',
      reason: 'state_unknown',
      detail: ERRORS.invalid_request.message,
      message: ERRORS.invalid_request.message,
      setCookies: [],
      allow: undefined,
      name: 'TokenHandlerError',
    });
    expect(error.cause).toBeUndefined();
    expect(error).toBeInstanceOf(Error);
  });

  it('keeps a detail, cause, wire code, cookies and Allow it is given', () => {
    const cause = new Error('inner');
    const error = new TokenHandlerError('authorization_response_error', {
      reason: 'idp_error',
      detail: 'The authorization server said no',
      cause,
      wireCode: 'access_denied',
      setCookies: [cookie('a')],
    });
    expect(error).toMatchObject({ status: 400, wireCode: 'access_denied', detail: 'The authorization server said no', cause });
    expect(error.setCookies.map((c) => c.name)).toEqual(['a']);
    expect(new TokenHandlerError('method_not_allowed', { reason: 'proxy_method_not_allowed', allow: 'GET, HEAD' }).allow).toBe('GET, HEAD');
  });

  it('has a status and a short, bland default message for every code', () => {
    const statuses = Object.fromEntries(Object.entries(ERRORS).map(([code, { status }]) => [code, status]));
    // The contract's statuses (contract.md §1 and §2).
    expect(statuses).toEqual({
      invalid_request: 400, authorization_error: 400, authorization_response_error: 400,
      unauthorized_request: 401, login_required: 401, session_expired: 401, token_expired: 401,
      not_found: 404, method_not_allowed: 405, request_too_large: 413, request_header_too_large: 431,
      unsupported_media_type: 415, server_error: 500, authorization_server_error: 502, upstream_unavailable: 502, store_unavailable: 503,
    });
    for (const { message } of Object.values(ERRORS)) expect(message).toMatch(/^[A-Z][a-zA-Z -]{8,60}$/);
  });
});

describe('withCookies', () => {
  it('re-throws the same error with the cookies added before its own, keeping the relayed wire code', () => {
    const cause = new Error('inner');
    const original = new TokenHandlerError('authorization_response_error', { reason: 'idp_error', wireCode: 'access_denied', cause, setCookies: [cookie('own')] });
    const wrapped = original.withCookies([cookie('tx-1'), cookie('tx-2')]);
    expect(wrapped).toBeInstanceOf(TokenHandlerError);
    expect(wrapped).not.toBe(original);
    expect(wrapped).toMatchObject({ code: 'authorization_response_error', status: 400, wireCode: 'access_denied', reason: 'idp_error', detail: original.detail, cause });
    expect(wrapped.setCookies.map((c) => c.name)).toEqual(['tx-1', 'tx-2', 'own']);
    expect(original.setCookies.map((c) => c.name)).toEqual(['own']);
  });

  it('keeps Allow and an explicit detail', () => {
    const wrapped = new TokenHandlerError('method_not_allowed', { reason: 'method_not_allowed', detail: 'Not on this endpoint', allow: 'POST' }).withCookies([cookie('x')]);
    expect(wrapped).toMatchObject({ allow: 'POST', detail: 'Not on this endpoint', status: 405 });
  });
});

describe('the reasons', () => {
  it('each has one line of docs', () => {
    for (const docs of [REASONS, REASON_FAMILIES, JWT_FAILURES, ID_TOKEN_FAILURES]) {
      for (const [name, doc] of Object.entries(docs)) {
        expect(name).toMatch(/^[a-z0-9_<> ]+$/);
        expect(doc, name).toMatch(/^[A-Za-z<].{10,160}$/);
      }
    }
  });

  it.each([
    'state_unknown', 'jwks_unavailable', 'token_endpoint_400', 'token_endpoint_599', 'token_endpoint_invalid_client', 'token_endpoint_other',
    'par_503', 'id_token_nonce_mismatch', 'id_token_err_jwks_no_matching_key', 'logout_token_forbidden_claim',
  ])('knows %s', (reason) => expect(isReason(reason)).toBe(true));

  it.each([
    'token_endpoint_200', 'token_endpoint_see_https_evil', 'token_endpoint_', 'par_400', 'id_token_nope',
    // An ID-token-only rule is not a logout-token reason.
    'logout_token_nonce_mismatch', 'whatever',
  ])('does not know %s', (reason) => expect(isReason(reason)).toBe(false));

  it('an IdP error code is logged by name only when it is a registered one', () => {
    expect(oauthErrorForLog('invalid_grant')).toBe('invalid_grant');
    expect(oauthErrorForLog('use_dpop_nonce')).toBe('use_dpop_nonce');
    for (const odd of ['see https://evil.example/?x=1', 'made_up_code', 'INVALID_GRANT', '', 42, undefined, null]) expect(oauthErrorForLog(odd)).toBe('other');
  });

  it('every reason the source writes is a documented one (the compiler checks the new form; this also reads helper calls)', () => {
    const written = reasonsWrittenIn(sourceFiles(join(import.meta.dirname, '../../src')));
    // The scan must find the reasons it is meant to find, or it would pass on nothing.
    expect(written).toEqual(expect.arrayContaining(['state_unknown', 'path_dot_segment', 'csrf_header_missing', 'json_malformed', 'discovery_no_s256', 'no_access_token']));
    expect(written.filter((reason) => !isReason(reason))).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The literal reasons in `new TokenHandlerError(…)` calls and in helpers that take a `reason` to build one. */
function reasonsWrittenIn(files: string[]): string[] {
  const found = new Set<string>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const call of calls(text, 'new TokenHandlerError(')) {
      const at = call.search(/\breason:/);
      if (at >= 0) for (const [, literal] of untilDepthZeroSeparator(call.slice(at + 7)).matchAll(/'([a-z0-9_]+)'/g)) found.add(literal!);
    }
    const helpers = [...text.matchAll(/(?:const|function)\s+(\w+)\s*=?\s*\(reason: (?:string|Reason)\)/g)].map((m) => m[1]!);
    for (const helper of helpers) for (const [, literal] of text.matchAll(new RegExp(`\\b${helper}\\('([a-z0-9_]+)'\\)`, 'g'))) found.add(literal!);
  }
  return [...found].sort();
}

/** The argument text of each call starting with `opening`, up to its matching parenthesis. */
function calls(text: string, opening: string): string[] {
  const out: string[] = [];
  for (let start = text.indexOf(opening); start >= 0; start = text.indexOf(opening, start + 1)) {
    let depth = 1;
    let i = start + opening.length;
    for (; i < text.length && depth > 0; i++) depth += text[i] === '(' || text[i] === '{' || text[i] === '[' ? 1 : text[i] === ')' || text[i] === '}' || text[i] === ']' ? -1 : 0;
    out.push(text.slice(start + opening.length, i - 1));
  }
  return out;
}

/** `text` up to the first `,` or closing bracket that is not nested. */
function untilDepthZeroSeparator(text: string): string {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') {
      if (depth === 0) return text.slice(0, i);
      depth--;
    } else if (c === ',' && depth === 0) return text.slice(0, i);
  }
  return text;
}
