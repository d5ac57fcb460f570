/**
 * The proxy's header bag: read as a `Headers` is read (lower-case names, repeats joined, Set-Cookie
 * lines apart) and handed to node:http as its own object.
 */
import { describe, expect, it } from 'vitest';
import { HeaderBag } from '../../../src/core/proxy/header-bag.js';

describe('HeaderBag', () => {
  it('joins a repeated field with ", " in the order added, as Headers does', () => {
    const bag = new HeaderBag();
    bag.append('accept', 'text/html');
    bag.append('accept', 'application/json');
    expect(bag.get('accept')).toBe('text/html, application/json');
    expect(bag.record()['accept']).toBe('text/html, application/json');
    const headers = new Headers();
    bag.forEach((value, name) => headers.append(name, value));
    expect(headers.get('accept')).toBe('text/html, application/json');
  });

  it('keeps each Set-Cookie line apart: in forEach, getSetCookie, pairs and the record node:http takes', () => {
    const bag = new HeaderBag();
    bag.append('Set-Cookie', 'a=1; Path=/');
    bag.append('set-cookie', 'b=2, c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT');
    expect(bag.getSetCookie()).toEqual(['a=1; Path=/', 'b=2, c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    expect(bag.record()['set-cookie']).toEqual(['a=1; Path=/', 'b=2, c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    const seen: [string, string][] = [];
    bag.forEach((value, name) => seen.push([name, value]));
    expect(seen).toEqual(bag.pairs());
    expect(new Headers(bag.pairs()).getSetCookie()).toEqual(bag.getSetCookie());
    bag.set('set-cookie', 'only=1');
    expect(bag.getSetCookie()).toEqual(['only=1']);
  });

  it('takes names in any letter case and keeps them lower-case, one field per name', () => {
    const bag = new HeaderBag({ 'X-Mixed': 'a' });
    bag.append('x-MIXED', 'b');
    bag.set('DPoP', 'proof');
    expect(bag.keys()).toEqual(['x-mixed', 'dpop']);
    expect(bag.get('X-Mixed')).toBe('a, b');
    expect(bag.has('dpop')).toBe(true);
    bag.set('dpop', 'second');
    expect(bag.pairs()).toEqual([['x-mixed', 'a, b'], ['dpop', 'second']]);
    bag.delete('X-MIXED');
    expect(bag.has('x-mixed')).toBe(false);
    expect(bag.get('x-mixed')).toBeNull();
  });

  it('treats names that an object inherits as plain names', () => {
    const bag = new HeaderBag();
    expect(bag.get('constructor')).toBeNull();
    expect(bag.has('__proto__')).toBe(false);
    bag.set('__proto__', 'x');
    bag.append('constructor', 'y');
    expect(bag.get('__proto__')).toBe('x');
    expect(bag.get('constructor')).toBe('y');
    expect(bag.keys()).toEqual(['__proto__', 'constructor']);
    expect({ ...bag.record() }).toHaveProperty(['__proto__'], 'x');
  });

  it('clones into a bag of its own', () => {
    const bag = new HeaderBag({ accept: 'a' });
    bag.append('set-cookie', 'x=1');
    const copy = bag.clone();
    copy.set('accept', 'b');
    copy.append('set-cookie', 'y=2');
    expect(bag.get('accept')).toBe('a');
    expect(bag.getSetCookie()).toEqual(['x=1']);
    expect(copy.getSetCookie()).toEqual(['x=1', 'y=2']);
  });
});
