/**
 * Node's raw header list (`rawHeaders`) read as the proxy's rules read a `Headers`: lower-case
 * names, repeated fields joined with ', ', except Cookie lines, joined with '; ' (as Node itself
 * joins them, and as @hono/node-server hands them to the Hono route). Node's `req.headers` is not
 * used: it drops repeats of some fields.
 */
import type { ResponseHeaderView } from '../../core/ports.js';

export class RawHeaderView implements ResponseHeaderView {
  private readonly fields = new Map<string, string>();
  private readonly setCookies: string[] = [];
  constructor(raw: readonly string[]) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (name === 'set-cookie') this.setCookies.push(value);
      const seen = this.fields.get(name);
      this.fields.set(name, seen === undefined ? value : `${seen}${name === 'cookie' ? '; ' : ', '}${value}`);
    }
  }
  get(name: string): string | null {
    return this.fields.get(name) ?? null;
  }
  forEach(callback: (value: string, name: string) => void): void {
    this.fields.forEach(callback);
  }
  getSetCookie(): string[] {
    return this.setCookies;
  }
}

export type OutgoingHeaders = Record<string, string | string[]>;

/** A `Headers` as node:http takes it; `Set-Cookie` lines stay separate. */
export function toNodeHeaders(headers: Headers): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  headers.forEach((value, name) => {
    if (name === 'set-cookie') ((out[name] ??= []) as string[]).push(value);
    else out[name] = value;
  });
  return out;
}
