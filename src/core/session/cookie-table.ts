/**
 * The one table of the token handler's cookies (names, paths, attributes), plus parsing of the
 * `Cookie` header, chunking of values past the browser's 4096-byte limit, and serialisation of
 * `Set-Cookie` lines. Cookies leave the core as data; the app only appends the strings.
 */

export type CookieKind = 'at' | 'rt' | 'id';

/** How many login transactions (tabs logging in at once) are kept; the oldest is evicted. */
export const MAX_LOGIN_TRANSACTIONS = 3;
/** Browsers drop a cookie whose name plus value passes 4096 bytes; stay under with room to spare. */
export const MAX_COOKIE_NAME_VALUE = 4000;
/** A value needing more chunks than this is refused at login instead of breaking requests later. */
export const MAX_CHUNKS = 5;

export interface CookieNames {
  readonly at: string;
  readonly rt: string;
  readonly id: string;
  /**
   * Login transactions are `<login><id>`, one cookie per login with an id taken from its `state`, so
   * two tabs starting a login at the same moment never write the same cookie.
   */
  readonly login: string;
  /** The fixed base names; together with every `login*` name, these are the token handler's cookies. */
  readonly all: readonly string[];
  /** `all` and `login` lower-cased, for isOwnCookieName. */
  readonly lowerAll: ReadonlySet<string>;
  readonly lowerLogin: string;
}

export interface CookieSpec {
  readonly name: string;
  readonly path: string;
}

export interface SetCookie {
  readonly name: string;
  readonly value: string;
  readonly path: string;
  /** Seconds; 0 clears the cookie. */
  readonly maxAge: number;
}

export function cookieNames(prefix: string): CookieNames {
  const at = `__Host-${prefix}-at`;
  const rt = `__Secure-${prefix}-rt`;
  const id = `__Secure-${prefix}-id`;
  const login = `__Host-${prefix}-login-`;
  const all = Object.freeze([at, rt, id]);
  return Object.freeze({ at, rt, id, login, all, lowerAll: new Set(all.map((n) => n.toLowerCase())), lowerLogin: login.toLowerCase() });
}

/** Characters of the (random, public) `state` that name its login cookie. */
const LOGIN_ID_LENGTH = 12;

/** The login-transaction cookie for `state`; undefined when the state cannot name one. */
export function loginCookieName(names: CookieNames, state: string): string | undefined {
  const id = state.slice(0, LOGIN_ID_LENGTH);
  return /^[A-Za-z0-9_-]{12}$/.test(id) ? names.login + id : undefined;
}

/** Every login-transaction cookie name the request carries. */
export function presentLoginNames(cookies: Map<string, string[]>, names: CookieNames): string[] {
  return [...cookies.keys()].filter((n) => n.startsWith(names.login) && /^[A-Za-z0-9_-]{12}$/.test(n.slice(names.login.length)));
}

export function cookieSpec(names: CookieNames, agentPath: string, kind: CookieKind): CookieSpec {
  // The access token is needed on every proxied path; refresh token and ID token only by the agent,
  // so they are scoped to it and never ride along on API calls.
  return kind === 'at' ? { name: names.at, path: '/' } : { name: names[kind], path: agentPath };
}

/** RFC 6265 §4.1.1: a cookie name is a token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NOT_TOKEN = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/g;

/**
 * Only space and tab count as whitespace around a cookie name or value (RFC 6265 §5.2). Not
 * `.trim()`: it also strips U+00A0, U+2000…U+200A, U+3000, U+FEFF and vertical tab, which would turn
 * `\u2000__Host-th-at`, a name no browser treats as prefixed, into ours.
 */
export function trimSpaceTab(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/**
 * Parses a `Cookie` header into name → values. Names are taken exactly: a name with any character
 * outside the token set (Unicode spaces, zero-width characters, controls, non-ASCII) is ignored,
 * never normalised into one of ours. A name sent twice keeps both values, so callers can refuse a
 * tossed duplicate instead of guessing which one is real.
 */
export function parseCookieHeader(header: string | null | undefined): Map<string, string[]> {
  const cookies = new Map<string, string[]>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = trimSpaceTab(part.slice(0, eq));
    if (!TOKEN.test(name)) continue;
    let value = trimSpaceTab(part.slice(eq + 1));
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const values = cookies.get(name);
    if (values) values.push(value);
    else cookies.set(name, [value]);
  }
  return cookies;
}

function single(cookies: Map<string, string[]>, name: string): string | undefined {
  const values = cookies.get(name);
  // Two cookies of the same name mean someone planted one (cookie tossing): trust neither.
  return values && values.length === 1 ? values[0] : undefined;
}

export function chunkName(name: string, index: number): string {
  return `${name}.${index}`;
}

/** Reads a possibly chunked value: `name`, or `name.0`, `name.1`, … joined in order. */
export function readCookieValue(cookies: Map<string, string[]>, name: string): string | undefined {
  const whole = single(cookies, name);
  if (whole !== undefined) return cookies.has(chunkName(name, 0)) ? undefined : whole;
  if (cookies.get(name)) return undefined;
  let value = '';
  for (let i = 0; i < MAX_CHUNKS; i++) {
    const chunk = single(cookies, chunkName(name, i));
    if (chunk === undefined) {
      if (cookies.has(chunkName(name, i))) return undefined;
      break;
    }
    value += chunk;
  }
  if (cookies.has(chunkName(name, MAX_CHUNKS))) return undefined;
  return value === '' ? undefined : value;
}

/** Every cookie name in the request that belongs to `name` (the whole value or any chunk). */
export function presentNames(cookies: Map<string, string[]>, name: string): string[] {
  const prefix = `${name}.`;
  return [...cookies.keys()].filter((n) => n === name || (n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length))));
}

export class CookieTooLargeError extends Error {
  override readonly name = 'CookieTooLargeError';
  constructor(readonly cookieName: string, readonly size: number) {
    super(`cookie ${cookieName} would need ${size} bytes`);
  }
}

/**
 * The Set-Cookie entries that store `value` under `spec`, chunked when needed, and that clear any
 * stale whole value or chunk the browser still holds.
 */
export function cookiesToStore(spec: CookieSpec, value: string, maxAge: number, present: Map<string, string[]>): SetCookie[] {
  const out: SetCookie[] = [];
  const written = new Set<string>();
  if (spec.name.length + 1 + value.length <= MAX_COOKIE_NAME_VALUE) {
    out.push({ name: spec.name, value, path: spec.path, maxAge });
    written.add(spec.name);
  } else {
    const room = MAX_COOKIE_NAME_VALUE - (chunkName(spec.name, 0).length + 1);
    const count = Math.ceil(value.length / room);
    if (count > MAX_CHUNKS) throw new CookieTooLargeError(spec.name, value.length);
    for (let i = 0; i < count; i++) {
      const name = chunkName(spec.name, i);
      out.push({ name, value: value.slice(i * room, (i + 1) * room), path: spec.path, maxAge });
      written.add(name);
    }
  }
  for (const stale of presentNames(present, spec.name)) {
    if (!written.has(stale)) out.push({ name: stale, value: '', path: spec.path, maxAge: 0 });
  }
  return out;
}

/** The Set-Cookie entries that clear `spec` and every chunk of it the request carried. */
export function cookiesToClear(spec: CookieSpec, present: Map<string, string[]>): SetCookie[] {
  const names = new Set([spec.name, ...presentNames(present, spec.name)]);
  return [...names].map((name) => ({ name, value: '', path: spec.path, maxAge: 0 }));
}

/** `Secure; HttpOnly; SameSite=Strict`, no `Domain`, always. */
export function serializeSetCookie(cookie: SetCookie): string {
  const base = `${cookie.name}=${cookie.value}; Path=${cookie.path}; Max-Age=${Math.max(0, Math.floor(cookie.maxAge))}`;
  const expiry = cookie.maxAge <= 0 ? '; Expires=Thu, 01 Jan 1970 00:00:00 GMT' : '';
  return `${base}${expiry}; Secure; HttpOnly; SameSite=Strict`;
}

/**
 * True when `name` could be taken for one of the token handler's cookies or a chunk of one: in any
 * letter case (browsers match the `__Host-`/`__Secure-` prefixes case-insensitively), and also once
 * NFKC-folded with every character outside the token set removed (`\u2000__Host-th-at`,
 * `__Host-th-at\u200b`, full-width letters). For keeping cookies away from upstreams and upstream
 * Set-Cookie away from the browser, where matching more is safe; reading is exact (parseCookieHeader).
 */
export function isOwnCookieName(name: string, names: CookieNames): boolean {
  const folded = TOKEN.test(name) ? name.toLowerCase() : name.normalize('NFKC').toLowerCase().replace(NOT_TOKEN, '');
  // A chunk suffix (`.0`, `.12`, a bare `.`) still names the cookie it belongs to.
  const base = folded.replace(/\.\d*$/, '');
  return names.lowerAll.has(base) || base.startsWith(names.lowerLogin);
}

function cookiePairName(pair: string): string {
  const eq = pair.indexOf('=');
  return eq < 0 ? pair : pair.slice(0, eq);
}

/** A `, ` that starts another `name=` pair: how a second Cookie header line arrives once joined by a Headers object. */
const JOINED_LINE = /,(?=\s*[^\s,;=]+=)/;

/**
 * Removes the token handler's cookies (every chunk, any letter case, look-alikes: isOwnCookieName)
 * from a `Cookie` header; undefined when nothing is left. The others go on byte for byte. A client
 * that sends two Cookie lines (or HTTP/2 cookie fields joined as ordinary headers) gets them joined
 * with ', ', so each part is searched for that too.
 */
export function stripOwnCookies(header: string | null | undefined, names: CookieNames): string | undefined {
  if (!header) return undefined;
  const kept: string[] = [];
  for (const part of header.split(';')) {
    const trimmed = trimSpaceTab(part);
    if (!trimmed) continue;
    if (!trimmed.includes(',')) {
      if (!isOwnCookieName(cookiePairName(trimmed), names)) kept.push(trimmed);
      continue;
    }
    const pieces = trimmed.split(JOINED_LINE).map(trimSpaceTab);
    const others = pieces.filter((p) => p && !isOwnCookieName(cookiePairName(p), names));
    // Untouched parts stay byte for byte (a value may hold a comma); split ones go back as separate cookies.
    if (others.length === pieces.length) kept.push(trimmed);
    else kept.push(...others);
  }
  return kept.length > 0 ? kept.join('; ') : undefined;
}
