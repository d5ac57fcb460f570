/**
 * Fuzzing (fast-check) of the app's parsers of untrusted input: sealed cookie values, chunk sets, Cookie headers, the agent's form and JSON bodies, callback parameters. Properties: never a 500, never an escaped exception, never a token or secret in the answer, always the contract's error shape; and then a sweep of every log line.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSealer, type SealPurpose } from '../../src/core/session/cookie-seal.js';
import { chunkName, cookieNames, cookiesToStore, parseCookieHeader, readCookieValue } from '../../src/core/session/cookie-table.js';
import { PUBLIC_ORIGIN } from '../helpers/spa-client.js';
import { randomSecret } from '../helpers/config.js';
import { logLines, spaFor, sweepForLeaks } from './harness.js';
import { TIMEOUT, anyChar, app, applyDamage, base64url, expectContractAnswer, genuine, headerText, provider, recorder, secretsIn, settings } from './fuzz-harness.js';

describe('sealed cookie values', () => {
  const keys = [{ id: 'k1', secret: randomSecret() }];
  const sealer = createSealer(keys, Date.now);
  const exp = () => Math.floor(Date.now() / 1000) + 3600;
  const purposes: SealPurpose[] = ['at', 'rt', 'id', 'login'];

  /** Structure-aware damage: whole-value cuts and flips, and edits inside one `*`-separated field of iron's format. */
  const damage = fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), char: anyChar }),
    fc.record({ kind: fc.constant('field' as const), field: fc.integer({ min: 0, max: 7 }), op: fc.constantFrom('insert', 'delete', 'replace'), at: fc.nat(), char: anyChar }),
    fc.record({ kind: fc.constant('append' as const), text: fc.string({ minLength: 1, maxLength: 40 }) }),
    fc.record({ kind: fc.constant('random' as const), text: fc.string({ maxLength: 600 }) }),
    fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 900 }) }),
  );

  it('a damaged value never unseals and never throws', { timeout: TIMEOUT }, async () => {
    const sealed = new Map(await Promise.all(purposes.map(async (p) => [p, await sealer.seal(p, { t: `token-for-${p}`, n: 1 }, exp())] as const)));
    // What the first runs found, kept whatever the seed: iron ignores the (empty) MAC-salt field with raw
    // keys, and decodes the MAC leniently, so both edits used to unseal.
    const at = sealed.get('at')!;
    expect(await sealer.unseal('at', at.replace('***', '**A*'))).toBeUndefined();
    const last = at.at(-1)!;
    const sameBits = base64url.filter((c) => c !== last && base64url.indexOf(c) >> 2 === base64url.indexOf(last) >> 2);
    for (const c of sameBits) expect(await sealer.unseal('at', at.slice(0, -1) + c)).toBeUndefined();
    expect(await sealer.unseal('at', at)).toBeDefined();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...purposes), damage, async (purpose, d) => {
        const original = sealed.get(purpose)!;
        const damaged = applyDamage(original, d);
        fc.pre(damaged !== original);
        expect(await sealer.unseal(purpose, damaged)).toBeUndefined();
      }),
      settings(300, 2),
    );
  });

  it('a value sealed for another purpose, under another key with our key id, or expired never unseals', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...purposes),
        fc.constantFrom(...purposes),
        fc.string({ minLength: 32, maxLength: 64 }),
        fc.integer({ min: 1, max: 10 ** 9 }),
        async (sealedFor, openedAs, otherSecret, age) => {
          const value = await sealer.seal(sealedFor, { t: 'x' }, exp());
          if (sealedFor !== openedAs) expect(await sealer.unseal(openedAs, value)).toBeUndefined();
          fc.pre(otherSecret !== keys[0]!.secret);
          const forger = createSealer([{ id: 'k1', secret: otherSecret }], Date.now);
          expect(await sealer.unseal(sealedFor, await forger.seal(sealedFor, { t: 'x' }, exp()))).toBeUndefined();
          const expired = await sealer.seal(sealedFor, { t: 'x' }, Math.floor(Date.now() / 1000) - age);
          expect(await sealer.unseal(sealedFor, expired)).toBeUndefined();
        },
      ),
      settings(40),
    );
  });

  it('a chunk set with gaps, extra, duplicated, swapped or renamed chunks is treated as absent', { timeout: TIMEOUT }, async () => {
    const names = cookieNames('th');
    const value = await sealer.seal('at', { t: 'a'.repeat(6000) }, exp());
    const chunks = cookiesToStore({ name: names.at, path: '/' }, value, 60, new Map()).map((c) => [c.name, c.value] as [string, string]);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('foreign' as const), name: fc.stringMatching(/^[a-z_]{1,12}$/), value: headerText(30) }),
      fc.record({ kind: fc.constant('shuffle' as const), seed: fc.nat() }),
      fc.record({ kind: fc.constant('gap' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('extra' as const), value: fc.string({ maxLength: 50 }) }),
      fc.record({ kind: fc.constant('duplicate' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
      fc.record({ kind: fc.constant('whole' as const) }),
      fc.record({ kind: fc.constant('rename' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('cut' as const), index: fc.nat(), at: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 4 }), async (ops) => {
        let pairs: [string, string][] = chunks.map(([n, v]) => [n, v]);
        for (const o of ops) {
          const i = (n: number) => n % pairs.length;
          switch (o.kind) {
            case 'foreign':
              if (!o.name.startsWith('__')) pairs.push([o.name, o.value.replace(/;/g, '')]);
              break;
            case 'shuffle':
              pairs = pairs.map((p, k) => [p, (k * 7919 + o.seed) % 1009] as const).sort((a, b) => a[1] - b[1]).map(([p]) => p);
              break;
            case 'gap':
              pairs.splice(i(o.index), 1);
              break;
            case 'extra':
              pairs.push([chunkName(names.at, chunks.length), o.value.replace(/[;\s]/g, '') || 'x']);
              break;
            case 'duplicate':
              pairs.push([...pairs[i(o.index)]!]);
              break;
            case 'swap': {
              const [a, b] = [i(o.a), i(o.b)];
              if (a !== b) [pairs[a]![1], pairs[b]![1]] = [pairs[b]![1], pairs[a]![1]];
              break;
            }
            case 'whole':
              pairs.push([names.at, value]);
              break;
            case 'rename': {
              const p = pairs[i(o.index)]!;
              p[0] = p[0].toLowerCase();
              break;
            }
            case 'cut': {
              const p = pairs[i(o.index)]!;
              p[1] = p[1].slice(0, o.at % Math.max(1, p[1].length));
              break;
            }
          }
          if (pairs.length === 0) break;
        }
        // Judged on the final set (a later op may undo an earlier one). The value is there when either our
        // chunks are all present, each once and unchanged, with no whole value beside them; or the whole
        // (authentic) value is there once with no chunk 0 to contradict it (stray later chunks are stale).
        // An empty extra chunk (sent once) adds nothing to the joined value, so it changes nothing either.
        const once = (name: string) => pairs.filter(([n]) => n === name).length === 1;
        const ours = pairs.filter(([n, v]) => n.startsWith(names.at) && !(v === '' && once(n) && !chunks.some(([c]) => c === n)));
        const whole = pairs.filter(([n]) => n === names.at);
        const intact =
          (ours.length === chunks.length && chunks.every(([n, v]) => ours.some(([m, w]) => m === n && w === v))) ||
          (whole.length === 1 && whole[0]![1] === value && !pairs.some(([n]) => n === chunkName(names.at, 0)));
        const header = pairs.map(([n, v]) => `${n}=${v}`).join('; ');
        const read = readCookieValue(parseCookieHeader(header), names.at);
        const opened = await sealer.unseal('at', read);
        expect(opened !== undefined).toBe(intact);
      }),
      settings(300, 2),
    );
  });
});

describe('the app under fuzzed input', () => {
  const request = (path: string, init: RequestInit = {}) => app.request(PUBLIC_ORIGIN + path, init);
  const csrf = { 'token-handler-version': '1', origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'same-origin' };

  it('Cookie headers (duplicates, odd spacing, quotes, garbage, huge): the session is read only from exactly one intact copy', { timeout: TIMEOUT }, async () => {
    const genuinePairs = [...genuine.pairs];
    const piece = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('genuine' as const), index: fc.nat(), style: fc.constantFrom('plain', 'spaced', 'quoted') }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('damaged' as const), index: fc.nat(), at: fc.nat(), char: fc.constantFrom(...base64url) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('junk' as const), text: headerText(80) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge' as const), size: fc.integer({ min: 1000, max: 6000 }) }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 10 }), fc.constantFrom('; ', ';', ' ;  ', ';;'), async (pieces, separator) => {
        const counts = new Map<string, number>();
        const parts = pieces.map((p) => {
          if (p.kind === 'junk') return p.text;
          if (p.kind === 'huge') return `big=${'b'.repeat(p.size)}`;
          const [name, value] = genuinePairs[p.index % genuinePairs.length]!;
          if (p.kind === 'damaged') {
            const at = p.at % value.length;
            const flipped = value.slice(0, at) + (value[at] === p.char ? (p.char === 'A' ? 'B' : 'A') : p.char) + value.slice(at + 1);
            counts.set(name, (counts.get(name) ?? 0) + 100);
            return `${name}=${flipped}`;
          }
          counts.set(name, (counts.get(name) ?? 0) + 1);
          return p.style === 'plain' ? `${name}=${value}` : p.style === 'spaced' ? ` ${name} = ${value} ` : `${name}="${value}"`;
        });
        const junk = pieces.some((p) => p.kind === 'junk');
        const cookie = parts.join(separator);
        const once = (name: string) => counts.get(name) === 1;
        const session = await expectContractAnswer(await request('/oauth-agent/session', { headers: { cookie } }), [200, 431]);
        // Junk may plant a copy of one of our names (a toss); then not logged in is also right, never the reverse.
        const expected = once('__Secure-th-id') && (once('__Host-th-at') || once('__Secure-th-rt'));
        if (!junk || !expected) expect(session['is_logged_in'] === true).toBe(expected);
        const before = provider.upstream.length;
        const api = await request('/api/fuzz', { headers: { cookie } });
        if (api.status === 200) {
          expect(once('__Host-th-at')).toBe(true);
          expect(provider.upstream.length).toBe(before + 1);
          expect(provider.upstream.at(-1)!.headers['authorization']).toBe(`Bearer ${genuine.accessToken}`);
          expect(secretsIn(await api.text())).toEqual([]);
        } else if (api.status === 431 && api.headers.get('content-type') !== 'application/json') {
          // The upstream's own answer, passed through: its Node server refuses more than 16 KB of headers,
          // and the foreign cookies (kept, as the contract says) took the request past that.
          expect(once('__Host-th-at')).toBe(true);
          expect(cookie.length).toBeGreaterThan(12_000);
        } else {
          await expectContractAnswer(api, [401, 431]);
          expect(provider.upstream.length).toBe(before);
          if (!junk && !once('__Host-th-at')) expect(api.status).toBe(401);
        }
      }),
      settings(60, 0.25),
    );
  });

  it('agent bodies (form, JSON, other types, malformed, odd encodings): never a 500, always the contract shape', { timeout: TIMEOUT }, async () => {
    const field = fc.constantFrom('code', 'state', 'iss', 'error', 'error_description', 'prompt', '__proto__', 'constructor', 'toString', 'a[b]', '');
    const formBody = fc.array(fc.tuple(field, fc.string({ maxLength: 40 })), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString());
    const jsonBody = fc.oneof(fc.json(), fc.dictionary(field, fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxKeys: 5 }).map((d) => JSON.stringify(d)));
    const rawBody = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')));
    const contentType = fc.constantFrom(
      'application/x-www-form-urlencoded', 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain',
      'multipart/form-data; boundary=x', '', 'application/x-www-form-urlencoded;charset=latin1', 'application/jsonx',
    );
    const endpoint = fc.constantFrom('/login/start', '/login/end', '/refresh', '/logout');
    await fc.assert(
      fc.asyncProperty(endpoint, contentType, fc.oneof(formBody, jsonBody, rawBody), fc.boolean(), async (path, type, body, withSession) => {
        const headers: Record<string, string> = { ...csrf, ...(type ? { 'content-type': type } : {}) };
        if (withSession) headers['cookie'] = [...genuine.pairs].map(([n, v]) => `${n}=${v}`).join('; ');
        // /logout and /refresh with a session would end or rotate it for the runs after; they get no cookies here.
        if (path === '/logout' || path === '/refresh') delete headers['cookie'];
        const response = await request(`/oauth-agent${path}`, { method: 'POST', headers, body });
        const answer = await expectContractAnswer(response, [200, 400, 401, 413]);
        if (response.status === 200 && path === '/login/end') expect(Object.keys(answer)).toContain('is_logged_in');
        // Nothing but login/start and logout sets or clears cookies on these inputs.
        if (path !== '/login/start' && path !== '/logout') expect(response.headers.getSetCookie().filter((l) => !/Max-Age=0/.test(l))).toEqual([]);
      }),
      settings(150, 0.5),
    );
  });

  it('callback parameters against a live login transaction: refused cleanly, never a session', { timeout: TIMEOUT }, async () => {
    const spa = spaFor(app, recorder);
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            code: fc.oneof(fc.string({ maxLength: 60 }), fc.constant('')),
            state: fc.constantFrom('real', 'other', 'empty'),
            iss: fc.oneof(fc.constantFrom('real', 'absent', 'https://evil.example', `${PUBLIC_ORIGIN}`), fc.string({ maxLength: 30 })),
            error: fc.oneof(fc.constantFrom('access_denied', 'login_required', 'server_error'), fc.string({ maxLength: 70 })),
            error_description: fc.string({ maxLength: 60 }),
          },
          { requiredKeys: ['state'] },
        ),
        async (p) => {
          spa.cookies.clear();
          const start = await spa.json('POST', '/oauth-agent/login/start');
          const realState = new URL(String(start.body['authorization_url'])).searchParams.get('state')!;
          const body: Record<string, string> = {};
          body['state'] = p.state === 'real' ? realState : p.state === 'other' ? realState.slice(1) + 'x' : '';
          if (p.iss !== undefined && p.iss !== 'absent') body['iss'] = p.iss === 'real' ? provider.issuer : p.iss;
          for (const k of ['code', 'error', 'error_description'] as const) if (p[k] !== undefined) body[k] = p[k]!;
          const response = await spa.request('POST', '/oauth-agent/login/end', { body });
          const answer = await expectContractAnswer(response, [200, 400, 401, 502]);
          // No genuine code was ever sent, so no outcome may be a session.
          expect(answer['is_logged_in']).not.toBe(true);
          expect(response.headers.getSetCookie().filter((l) => /^__(Host|Secure)-th-(at|rt|id)/.test(l) && !/Max-Age=0/.test(l))).toEqual([]);
        },
      ),
      settings(60, 0.25),
    );
  });

  it('proxied paths, methods and headers: never a 500; what goes upstream stays under /api with our token and none of our cookies', { timeout: TIMEOUT }, async () => {
    const cookie = [...genuine.pairs].map(([n, v]) => `${n}=${v}`).join('; ');
    const segment = fc.oneof(
      fc.constantFrom('..', '.', '%2e%2e', '%2E.', '.%2e', '%252e%252e', '..;', '..;x', '%2f', '%5c', '\\', '%00', '\u2025', '\uff0e\uff0e', '\uff0f', 'a', 'b c', '%', '%zz', '%25', ';', 'ok', '', 'orders', '%3f', '%23'),
      fc.string({ maxLength: 12 }).map((s) => s.replace(/[?#]/g, '')),
    );
    const header = fc.tuple(
      fc.constantFrom('authorization', 'cookie', 'connection', 'x-forwarded-for', 'x-forwarded-host', 'forwarded', 'host', 'te', 'upgrade', 'x-custom', 'accept', 'proxy-authorization', 'x-real-ip', 'x-http-method-override', 'content-type'),
      headerText(60),
    );
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE');
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 6 }), method, fc.array(header, { maxLength: 5 }), async (segments, verb, extra) => {
        const path = `/api/${segments.join('/')}`;
        const headers = new Headers(csrf);
        for (const [name, value] of extra) {
          if (name === 'host') continue; // a Request cannot carry its own Host
          try {
            headers.append(name, name === 'cookie' ? `${value.replace(/;/g, '')}; __host-th-at.0=planted` : value);
          } catch {
            // A value the Headers API refuses never reaches a server either.
          }
        }
        headers.set('cookie', [headers.get('cookie'), cookie].filter(Boolean).join('; '));
        const before = provider.upstream.length;
        let response: Response;
        try {
          response = await request(path, { method: verb, headers, ...(verb === 'POST' || verb === 'PUT' || verb === 'PATCH' ? { body: 'x=1' } : {}) });
        } catch (error) {
          // Only the test's own Request construction may refuse (e.g. TRACE is a forbidden method); never the app.
          expect(String(error)).toMatch(/TypeError|method/i);
          return;
        }
        const forwarded = provider.upstream.length > before;
        if (forwarded) {
          const sent = provider.upstream.at(-1)!;
          expect(sent.path === '/api' || sent.path.startsWith('/api/') || sent.path.startsWith('/api?')).toBe(true);
          expect(sent.headers['authorization']).toBe(`Bearer ${genuine.accessToken}`);
          expect(sent.headers['cookie'] ?? '').not.toMatch(/__(host|secure)-th-/i);
          expect(sent.headers['token-handler-version']).toBeUndefined();
          expect(sent.headers['x-forwarded-host']).toBe(new URL(PUBLIC_ORIGIN).host);
          expect(sent.headers['x-http-method-override']).toBeUndefined();
          expect(response.status).toBe(200);
          expect(secretsIn(await response.text())).toEqual([]);
        } else if (response.status === 204 && verb === 'OPTIONS') {
          expect(await response.text()).toBe('');
        } else if (verb === 'HEAD') {
          expect(response.status).not.toBe(500);
        } else {
          await expectContractAnswer(response, [400, 401, 404, 405]);
        }
      }),
      settings(120, 0.5),
    );
  });

  it('no fuzzed request ever reached the unexpected-error path', () => {
    expect(logLines(recorder, { msg: 'unexpected_error' })).toEqual([]);
  });
});

describe('the log', () => {
  it('holds no token, code, secret or cookie value from the fuzzing, and no answer does either', () => {
    sweepForLeaks(recorder, [provider]);
  });
});
