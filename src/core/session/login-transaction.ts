/**
 * The login transactions: one sealed cookie per login (`state`, nonce, PKCE verifier, issuer),
 * named after its `state`, so parallel logins in several tabs never overwrite each other. At most
 * MAX_LOGIN_TRANSACTIONS are kept (the oldest evicted), each for 10 minutes (contract §1.2, §3).
 */
import type { Clock } from '../ports.js';
import type { Sealer } from './cookie-seal.js';
import { MAX_LOGIN_TRANSACTIONS, cookiesToClear, cookiesToStore, loginCookieName, presentLoginNames, readCookieValue, type CookieNames, type SetCookie } from './cookie-table.js';

/** A login transaction lives this long (seconds), in its own cookie. */
export const LOGIN_TRANSACTION_LIFETIME = 600;

export interface LoginTransaction {
  /** state */
  readonly s: string;
  /** nonce */
  readonly n: string;
  /** PKCE code verifier */
  readonly v: string;
  /** issuer the request went to (mix-up bookkeeping, RFC 9700 §4.4.2) */
  readonly i: string;
}

/** What reading and writing login transactions needs. */
export interface LoginCookieSettings {
  readonly names: CookieNames;
  readonly sealer: Sealer;
  readonly now: Clock;
}

/** An open transaction and the cookie it came from. */
export interface FoundLoginTransaction {
  readonly name: string;
  readonly tx: LoginTransaction;
}

/**
 * The cookies that store `tx` beside the browser's other transactions: dead ones (expired,
 * tampered) are cleared, and beyond the limit the oldest live ones go.
 */
export async function storeLoginTransaction(settings: LoginCookieSettings, tx: LoginTransaction, cookies: Map<string, string[]>): Promise<SetCookie[]> {
  const existing = await Promise.all(
    presentLoginNames(cookies, settings.names).map(async (name) => ({ name, opened: await settings.sealer.unseal<LoginTransaction>('login', readCookieValue(cookies, name)) })),
  );
  const live = existing.filter((t) => t.opened).sort((a, b) => b.opened!.issuedAt - a.opened!.issuedAt);
  const evicted = [...existing.filter((t) => !t.opened), ...live.slice(MAX_LOGIN_TRANSACTIONS - 1)];
  const name = loginCookieName(settings.names, tx.s);
  if (name === undefined) throw new Error('the state cannot name a login cookie');
  const sealed = await settings.sealer.seal('login', tx, Math.floor(settings.now() / 1000) + LOGIN_TRANSACTION_LIFETIME);
  return [...evicted.flatMap((t) => clearLoginTransaction(t.name, cookies)), ...cookiesToStore({ name, path: '/' }, sealed, LOGIN_TRANSACTION_LIFETIME, cookies)];
}

/** The live transaction for `state` (compared in constant time), or undefined. */
export async function findLoginTransaction(settings: LoginCookieSettings, cookies: Map<string, string[]>, state: string): Promise<FoundLoginTransaction | undefined> {
  const name = loginCookieName(settings.names, state);
  if (name === undefined) return undefined;
  const opened = await settings.sealer.unseal<LoginTransaction>('login', readCookieValue(cookies, name));
  return opened && constantTimeEqual(opened.data.s, state) ? { name, tx: opened.data } : undefined;
}

/** Clears one transaction (every chunk of it the browser sent). */
export function clearLoginTransaction(name: string, cookies: Map<string, string[]>): SetCookie[] {
  return cookiesToClear({ name, path: '/' }, cookies);
}

/** Clears every transaction the browser sent. */
export function clearLoginTransactions(names: CookieNames, cookies: Map<string, string[]>): SetCookie[] {
  return presentLoginNames(cookies, names).flatMap((name) => clearLoginTransaction(name, cookies));
}

/** Compares two strings without an early exit, so the time taken says nothing about where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
