/**
 * The headers the proxy makes itself (the rewritten upstream request, the filtered answer) as one
 * plain object: lower-case names, a repeated field joined with ', ', `Set-Cookie` kept as separate
 * lines. It is the shape node:http takes, so the Node shell passes it on without a copy; a `Headers`
 * (validated, sorted, copied on every hand-over) cost ~3% of the Node server's CPU under load.
 * Values are not checked here: every place they leave checks them (node:http, fetch, CloudFront).
 */
import type { ResponseHeaderView } from '../ports.js';

/** Lower-case name to value; only `set-cookie` holds an array, one entry per line. */
export type HeaderRecord = Record<string, string | string[]>;

export class HeaderBag implements ResponseHeaderView {
  // No prototype: a field named `__proto__` or `constructor` is a name like any other.
  private readonly fields: HeaderRecord = Object.create(null) as HeaderRecord;

  constructor(init?: Readonly<Record<string, string>>) {
    if (init) for (const name of Object.keys(init)) this.append(name, init[name]!);
  }

  get(name: string): string | null {
    const value = this.fields[name.toLowerCase()];
    return value === undefined ? null : typeof value === 'string' ? value : value.join(', ');
  }

  has(name: string): boolean {
    return this.fields[name.toLowerCase()] !== undefined;
  }

  set(name: string, value: string): void {
    const key = name.toLowerCase();
    this.fields[key] = key === 'set-cookie' ? [value] : value;
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const seen = this.fields[key];
    if (key === 'set-cookie') {
      if (seen === undefined) this.fields[key] = [value];
      else (seen as string[]).push(value);
    } else {
      this.fields[key] = seen === undefined ? value : `${seen as string}, ${value}`;
    }
  }

  delete(name: string): void {
    delete this.fields[name.toLowerCase()];
  }

  /** Every field in the order it was first added; each `Set-Cookie` line on its own, as `Headers` does. */
  forEach(callback: (value: string, name: string) => void): void {
    for (const name in this.fields) {
      const value = this.fields[name]!;
      if (typeof value === 'string') callback(value, name);
      else for (const line of value) callback(line, name);
    }
  }

  getSetCookie(): string[] {
    const lines = this.fields['set-cookie'];
    return lines === undefined ? [] : (lines as string[]).slice();
  }

  /** Each name once. */
  keys(): string[] {
    return Object.keys(this.fields);
  }

  /** `[name, value]` pairs, a `Set-Cookie` line each: a `HeadersInit` for fetch or a `Response`. */
  pairs(): [string, string][] {
    const pairs: [string, string][] = [];
    this.forEach((value, name) => pairs.push([name, value]));
    return pairs;
  }

  clone(): HeaderBag {
    const copy = new HeaderBag();
    for (const name in this.fields) {
      const value = this.fields[name]!;
      copy.fields[name] = typeof value === 'string' ? value : value.slice();
    }
    return copy;
  }

  /** The bag's own object, not a copy (node:http takes it as is): read it, never change it. */
  record(): Readonly<HeaderRecord> {
    return this.fields;
  }
}
