/**
 * Node's raw header list (`rawHeaders`) read as the proxy's rules read a `Headers`: lower-case
 * names, repeated fields joined with ', ', except Cookie lines, joined with '; ' (as Node itself
 * joins them, and as @hono/node-server hands them to the Hono route). Node's `req.headers` is not
 * used: it drops repeats of some fields.
 */
import type { ResponseHeaderView } from '../../core/ports.js';

export class RawHeaderView implements ResponseHeaderView {
  // Built on the first read, not per view made: an answer that is discarded unread costs nothing.
  private fields: Map<string, string> | undefined;
  private readonly raw: readonly string[];
  constructor(raw: readonly string[]) {
    this.raw = raw;
  }
  get(name: string): string | null {
    return (this.fields ??= joinFields(this.raw)).get(name) ?? null;
  }
  forEach(callback: (value: string, name: string) => void): void {
    (this.fields ??= joinFields(this.raw)).forEach(callback);
  }
  getSetCookie(): string[] {
    const lines: string[] = [];
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'set-cookie') lines.push(raw[i + 1]!);
    return lines;
  }
}

function joinFields(raw: readonly string[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const seen = fields.get(name);
    fields.set(name, seen === undefined ? value : `${seen}${name === 'cookie' ? '; ' : ', '}${value}`);
  }
  return fields;
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
