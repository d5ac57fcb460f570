/**
 * What the provider saw of the refresh_token grant, read from oidc-provider's own events: every
 * refresh request it handled, answered (`grant.success`) or refused (`grant.error`: a rotated-away
 * token presented again, after which it has ended the whole grant). Counting both means a second
 * refresh of one generation shows up here even when it failed.
 */
import type Provider from 'oidc-provider';

interface TokenContext {
  readonly oidc?: { readonly params?: { readonly grant_type?: unknown } };
}

/** Starts counting now; the function returns the count so far. */
export function countRefreshGrants(provider: Provider): () => number {
  let seen = 0;
  const count = (ctx: TokenContext) => {
    if (ctx.oidc?.params?.grant_type === 'refresh_token') seen++;
  };
  provider.on('grant.success', count);
  provider.on('grant.error', count);
  return () => seen;
}
