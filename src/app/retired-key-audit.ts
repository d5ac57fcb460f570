/**
 * `retired_key_used` audits: a session cookie that opens with a cookie key other than the first
 * (TH_COOKIE_KEYS: the first seals, the others only unseal). They say when a rotation can drop its
 * old key. Only a value whose visible key id names such a key is opened, so requests with cookies
 * of the current key pay one string split per cookie.
 */
import type { Agent, Cookies } from '../core/agent/agent.js';
import type { AuditRecord } from '../core/audit.js';
import type { SealPurpose } from '../core/session/cookie-seal.js';
import { readCookieValue } from '../core/session/cookie-table.js';
import type { Config } from '../core/types.js';

export async function retiredKeyAudits(agent: Agent, config: Config, cookies: Cookies): Promise<AuditRecord[]> {
  if (config.cookieKeys.length < 2) return [];
  const current = config.cookieKeys[0]!.id;
  const seen = new Set<string>();
  const audits: AuditRecord[] = [];
  for (const purpose of ['at', 'rt', 'id'] as const satisfies readonly SealPurpose[]) {
    const value = readCookieValue(cookies, agent.names[purpose]);
    // The sealed form is `Fe26.2*<key id>*…`: the id is in the clear.
    const keyId = value?.split('*', 2)[1];
    if (!value || keyId === undefined || keyId === current || seen.has(keyId)) continue;
    // The sealer opens a value only with the key its id names, so opening it proves that key.
    if (!(await agent.sealer.unseal(purpose, value))) continue;
    seen.add(keyId);
    audits.push({ event: 'retired_key_used', outcome: 'success', keyId });
  }
  return audits;
}
