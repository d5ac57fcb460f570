/**
 * Header values between CloudFront events and Fetch `Headers`. An event holds each value as a JSON
 * string, which may contain any character (a `lang=日本` cookie, an emoji in `User-Agent`), while
 * `Headers` takes Latin-1 only and throws "Cannot convert argument to a ByteString". So, as Node's
 * HTTP parser does, the function carries every value as its UTF-8 bytes read as Latin-1, and turns
 * them back into the same string for what it hands back to CloudFront: the upstream gets exactly
 * what the viewer sent, and the rules (cookie names, stripping) see what Node would see.
 */
import type { CloudFrontHeaders } from 'aws-lambda';

const ASCII = /^[\x00-\x7f]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The value's UTF-8 bytes, one Latin-1 character each (ASCII stays as it is). */
export function toByteString(value: string): string {
  if (ASCII.test(value)) return value;
  let out = '';
  for (const byte of encoder.encode(value)) out += String.fromCharCode(byte);
  return out;
}

/** The inverse of toByteString, for a value going back into an event. */
export function fromByteString(value: string): string {
  if (ASCII.test(value)) return value;
  return decoder.decode(Uint8Array.from(value, (c) => c.charCodeAt(0)));
}

/**
 * An event's request headers with every value carried as above. Throws (a TypeError) when one still
 * cannot be a header: a NUL, CR or LF in a value, or a name outside the token set.
 */
export function carryRequestHeaders(headers: CloudFrontHeaders): CloudFrontHeaders {
  const probe = new Headers();
  const carried: CloudFrontHeaders = {};
  for (const [name, entries] of Object.entries(headers)) {
    carried[name] = entries.map((entry) => {
      const value = toByteString(entry.value);
      probe.append(name, value);
      return { ...entry, value };
    });
  }
  return carried;
}

/**
 * An origin-response's headers (but `skip`) as a `Headers`, values carried as above. A value no
 * `Headers` can hold (a NUL, CR or LF) is left out of it rather than failing the answer.
 */
export function carryResponseHeaders(headers: CloudFrontHeaders, skip: readonly string[]): Headers {
  const carried = new Headers();
  for (const [name, entries] of Object.entries(headers)) {
    if (skip.includes(name)) continue;
    for (const { value } of entries) {
      try {
        carried.append(name, toByteString(value));
      } catch {
        // Left out: a Set-Cookie that cannot be judged is then not passed on either.
      }
    }
  }
  return carried;
}
