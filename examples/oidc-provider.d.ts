// Minimal type declarations for oidc-provider 9.x.
//
// oidc-provider ships no TypeScript types and @types/oidc-provider is not a dependency of this
// project, so this file declares the small part of its API that examples/provider.ts and the tests
// use. It is deliberately loose where the library is loose (configuration functions receive Koa
// contexts we do not model in full). If @types/oidc-provider is ever added, delete this file.

declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type AdapterPayload = {
    [key: string]: unknown;
    grantId?: string;
    uid?: string;
    userCode?: string;
    consumed?: unknown;
    jti?: string;
  };

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export type AdapterConstructor = new (name: string) => Adapter;

  export interface ClientMetadata {
    client_id: string;
    client_secret?: string;
    [key: string]: unknown;
  }

  export type AccountClaims = { sub: string; [key: string]: unknown };

  export interface Account {
    accountId: string;
    claims(
      use: string,
      scope: string,
      claims: Record<string, unknown>,
      rejected: string[],
    ): AccountClaims | Promise<AccountClaims>;
  }

  export class Client {
    readonly clientId: string;
    readonly clientName?: string;
    readonly clientAuthMethod: string;
    grantTypeAllowed(type: string): boolean;
    static find(id: string): Promise<Client | undefined>;
  }

  export class Grant {
    constructor(properties: { accountId: string; clientId: string });
    accountId?: string;
    clientId?: string;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(ttl?: number): Promise<string>;
    static find(id: string): Promise<Grant | undefined>;
  }

  export interface ResourceServerInfo {
    scope: string;
    audience?: string;
    accessTokenTTL?: number;
    accessTokenFormat?: 'opaque' | 'jwt';
    jwt?: { sign?: { alg?: string; kid?: string } };
  }

  /** The token entities that the TTL and policy functions receive. */
  export interface BaseTokenLike {
    clientId?: string;
    resourceServer?: { accessTokenTTL?: number };
    remainingTTL?: number;
    [key: string]: unknown;
  }

  /** The subset of oidc-provider's Koa context used by configuration callbacks. */
  export interface KoaContextWithOIDC {
    type: string;
    body: unknown;
    status: number;
    host: string;
    oidc: {
      client?: Client;
      entities: { [name: string]: BaseTokenLike | undefined };
      params?: Record<string, unknown>;
      route?: string;
      [key: string]: unknown;
    };
  }

  export interface PromptDetails {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
    [key: string]: unknown;
  }

  export interface Interaction {
    uid: string;
    returnTo: string;
    grantId?: string;
    prompt: { name: string; reasons: string[]; details: PromptDetails };
    params: { client_id?: string; scope?: string; [key: string]: unknown };
    session?: { accountId?: string; uid?: string; [key: string]: unknown };
    lastSubmission?: Record<string, unknown>;
  }

  export type InteractionResults =
    | { login?: { accountId: string; [key: string]: unknown }; consent?: { grantId?: string } }
    | { error: string; error_description?: string };

  /** Loose on purpose: see the oidc-provider documentation for every option. */
  export interface Configuration {
    [key: string]: unknown;
  }

  export namespace errors {
    class OIDCProviderError extends Error {
      error: string;
      error_description?: string;
      status: number;
      statusCode: number;
    }
    class InvalidRequest extends OIDCProviderError {}
    class SessionNotFound extends InvalidRequest {}
    class InvalidTarget extends OIDCProviderError {
      constructor(description?: string);
    }
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    readonly Client: typeof Client;
    readonly Grant: typeof Grant;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionResult(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<string>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    urlFor(name: string, options?: Record<string, unknown>): string;
    on(event: string, listener: (...args: any[]) => void): this;
    off(event: string, listener: (...args: any[]) => void): this;
  }

  export default Provider;
}
