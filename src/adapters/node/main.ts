/**
 * The Node process entry: what a container runs (`node dist/node/server.js`, or `npm run serve`).
 * Configuration comes from `TH_*` environment variables; the port from `PORT` (default 8080), the
 * bind address from `HOST` (default 0.0.0.0, as a container needs). Nothing imports this file: it
 * runs on load, so no "am I the main module" check can fire inside someone else's bundle.
 */
import { ConfigError, parseConfig, type Config } from '../../config/parse.js';
import { createNodeApp, nodeFetchHandler, startNodeServer } from './server.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const app = createNodeApp(config);
  const port = Number(process.env['PORT'] ?? 8080);
  const server = await startNodeServer(nodeFetchHandler(app), { port, hostname: process.env['HOST'] ?? '0.0.0.0' });
  console.log(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'listening', url: server.url, issuer: config.issuer }));
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
