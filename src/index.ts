/**
 * `edge-token-handler`: the runtime-neutral entry. The app factory (a Hono app to mount or serve),
 * the configuration parser and the types a host needs. Importing it does nothing by itself.
 * The platform adapters are `edge-token-handler/node`, `/workers` and `/lambda-edge`.
 */
export { createApp, type AppDeps, type AppEnv, type TokenHandlerApp } from './app/create-app.js';
export { ConfigError, parseConfig, type ApiRoute, type ClientAuthMethod, type Config, type CookieKey, type LogLevel, type RawConfig } from './config/parse.js';
export type { LogSink } from './app/log.js';
