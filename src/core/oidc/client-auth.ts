/**
 * Who the token handler is to the IdP: its client metadata for oauth4webapi, and how it
 * authenticates at the token, PAR and revocation endpoints (client_secret_basic,
 * client_secret_post, or private_key_jwt with a key imported once per isolate, never extractable).
 */
import * as oauth from 'oauth4webapi';
import { importJWK } from 'jose';
import type { Config } from '../types.js';

export interface ClientAuthentication {
  /** The client as oauth4webapi wants it, with its time checks on the injected clock. */
  client(): oauth.Client;
  /** The configured authentication method; the private key is imported on first use. */
  auth(): Promise<oauth.ClientAuth>;
}

export function createClientAuthentication(config: Config, now: () => number): ClientAuthentication {
  let authPromise: Promise<oauth.ClientAuth> | undefined;
  return {
    client: () => ({
      client_id: config.clientId,
      // Lets oauth4webapi's own time checks follow the injected clock (tests freeze it).
      [oauth.clockSkew]: Math.round((now() - Date.now()) / 1000),
      [oauth.clockTolerance]: config.clockSkew,
    }),
    auth() {
      authPromise ??= (async () => {
        switch (config.clientAuth) {
          case 'client_secret_basic':
            return oauth.ClientSecretBasic(config.clientSecret!);
          case 'client_secret_post':
            return oauth.ClientSecretPost(config.clientSecret!);
          case 'private_key_jwt': {
            const jwk = config.clientPrivateKey!;
            // Imported once per isolate, never extractable.
            const key = (await importJWK({ ...jwk, ext: false } as never, jwk.alg, { extractable: false })) as CryptoKey;
            return oauth.PrivateKeyJwt({ key, ...(jwk.kid ? { kid: jwk.kid } : {}) });
          }
        }
      })();
      return authPromise;
    },
  };
}
