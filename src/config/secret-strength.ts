/**
 * The start-up check that refuses a cookie secret a person made up instead of a random one. Two
 * rules, simple enough to state in the README, which 32 random bytes (base64) practically never trip:
 * fewer than {@link MIN_DISTINCT} different characters, or any run of {@link REPEAT_LENGTH}
 * characters found twice (a word or pattern repeated, or padded out with one character).
 */

export const MIN_SECRET_LENGTH = 32;
export const MIN_DISTINCT = 8;
export const REPEAT_LENGTH = 8;

/** Why `secret` is too weak for a cookie key, or undefined when it passes. Never quotes the secret. */
export function weakSecretReason(secret: string): string | undefined {
  if (secret.length < MIN_SECRET_LENGTH) return `is too short: each secret needs at least ${MIN_SECRET_LENGTH} characters`;
  if (new Set(secret).size < MIN_DISTINCT) return `looks made up: it has fewer than ${MIN_DISTINCT} different characters`;
  const seen = new Set<string>();
  for (let i = 0; i + REPEAT_LENGTH <= secret.length; i++) {
    const piece = secret.slice(i, i + REPEAT_LENGTH);
    if (seen.has(piece)) return `looks made up: a run of ${REPEAT_LENGTH} characters appears in it twice (a word or pattern repeated)`;
    seen.add(piece);
  }
  return undefined;
}
