/**
 * `edge-token-handler/node`: the token handler with Node's specifics (undici's Pool for API calls, or node:http;
 * node:crypto for unsealing, the caller's address), and a server that listens and drains. Importing it starts
 * nothing; `node dist/node/server.js` is the ready-made process.
 */
export { createNodeTokenHandler, nodeFetchListener, startNodeServer, type NodeTokenHandler, type NodeTokenHandlerOptions, type RunningServer } from './server.js';
export { DEFAULT_SHUTDOWN_GRACE, readServerSettings, type ServerSettings } from './server-settings.js';
