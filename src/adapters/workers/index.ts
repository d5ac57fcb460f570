/**
 * `edge-token-handler/workers`: a Cloudflare Worker that builds the app from its bindings once per
 * isolate (`export default createWorker()`), or the app itself to mount into a Worker of your own.
 */
export { createWorker, createWorkersTokenHandler, type TokenHandlerWorker, type WorkerBindings, type WorkerContext } from './worker.js';
