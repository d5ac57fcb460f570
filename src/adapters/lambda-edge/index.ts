/**
 * `edge-token-handler/lambda-edge`: a CloudFront origin-request / origin-response handler for one
 * set of settings (KMS ciphertext allowed for the secrets), and the settings file's validation.
 * `npm run build:edge` in a clone bundles the settings into a ready-made function instead.
 */
export { createEdgeHandler, type EdgeEvent, type EdgeHandler, type EdgeHandlerOptions, type EdgeResult } from './handler.js';
export { SECRET_SETTINGS, validateEdgeSettings, type Decrypt, type EdgeSettings, type EncryptedSetting } from '../../config/from-bundle.js';
