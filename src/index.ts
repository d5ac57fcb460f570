/**
 * `edge-token-handler`: the runtime-neutral entry. The app factory (a Hono app to mount or serve),
 * the configuration parser and the types a host needs. Importing it does nothing by itself.
 * The platform adapters are `edge-token-handler/node`, `/workers` and `/lambda-edge`.
 */
export { createTokenHandler, type AppEnv, type TokenHandler, type TokenHandlerDeps } from './app/create-token-handler.js';
export { ConfigError, parseConfig, type ApiRoute, type ClientAuthMethod, type Config, type CookieKey, type LogLevel, type RawConfig } from './config/parse.js';
export type { LogSink, SessionStore, UpstreamTransport } from './core/ports.js';
