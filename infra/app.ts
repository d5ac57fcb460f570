/**
 * The AWS CDK app for the Lambda@Edge deployment (run from infra/):
 *
 *   npx cdk deploy EdgeTokenHandlerKey -c config=../edge-config.json     # once: the secrets key
 *   (encrypt the secrets, put them in the file, npm run build:edge -- --config edge-config.json)
 *   npx cdk deploy EdgeTokenHandler -c config=../edge-config.json
 *
 * Context: `config` (required) is the same JSON file the build bundles; the agent path and API
 * routes in it decide the behaviours, and TH_PUBLIC_ORIGIN's host becomes the distribution's
 * domain name, whose ACM certificate (us-east-1) is `certificateArn` (not needed while the public
 * origin is the distribution's own *.cloudfront.net name). `artifact` defaults to
 * ../dist/lambda-edge/function.zip.
 * When TH_KMS_KEY_ID in the file is a key ARN, that key is used and no key stack is made. Until
 * the zip exists, only the key stack is defined (the secrets are encrypted under it first).
 * Paths are relative to the current directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { validateEdgeSettings } from '../src/config/from-bundle.js';
import { isLoopbackHost } from '../src/config/parse.js';
import { EdgeStack } from './lib/edge-stack.js';
import { DEFAULT_KEY_ALIAS, KeyStack } from './lib/key-stack.js';

export function buildApp(app: App): { key?: KeyStack; edge?: EdgeStack } {
  const configPath = app.node.tryGetContext('config') as string | undefined;
  if (!configPath) throw new Error('Pass the configuration file: -c config=<path to edge-config.json>');
  const artifactPath = resolve((app.node.tryGetContext('artifact') as string | undefined) ?? '../dist/lambda-edge/function.zip');
  const { settings, config } = validateEdgeSettings(JSON.parse(readFileSync(resolve(configPath), 'utf8')));
  // Lambda@Edge functions must be created in us-east-1; the key sits next to them.
  const env = { region: 'us-east-1', ...(process.env['CDK_DEFAULT_ACCOUNT'] ? { account: process.env['CDK_DEFAULT_ACCOUNT'] } : {}) };
  const keyId = settings['TH_KMS_KEY_ID'];
  const ownKey = keyId?.startsWith('arn:aws:kms:') && keyId.includes(':key/');
  const keyStack = ownKey ? undefined : new KeyStack(app, 'EdgeTokenHandlerKey', { env, alias: keyId?.startsWith('alias/') ? keyId : DEFAULT_KEY_ALIAS });
  // Before the first build there is no zip: only the key can be deployed then (its secrets come first).
  if (!existsSync(artifactPath)) {
    console.warn(`No ${artifactPath} yet: only the key stack is defined. Encrypt the secrets, run npm run build:edge, then deploy EdgeTokenHandler.`);
    return keyStack ? { key: keyStack } : {};
  }
  for (const route of config.apiRoutes) {
    if (isLoopbackHost(new URL(route.upstream).hostname)) throw new Error(`TH_API_ROUTES upstream for ${route.prefix} is a loopback address, which CloudFront cannot reach`);
  }
  const host = new URL(config.publicOrigin).hostname;
  let domain: { name: string; certificateArn: string } | undefined;
  if (!host.endsWith('.cloudfront.net')) {
    const certificateArn = app.node.tryGetContext('certificateArn') as string | undefined;
    if (!certificateArn) throw new Error(`TH_PUBLIC_ORIGIN is https://${host}: pass its ACM certificate (in us-east-1) with -c certificateArn=<arn>`);
    domain = { name: host, certificateArn };
  }
  const edge = new EdgeStack(app, 'EdgeTokenHandler', { env, config, artifactPath, domain, keyArn: keyStack ? keyStack.key.keyArn : keyId! });
  return keyStack ? { key: keyStack, edge } : { edge };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const app = new App();
  buildApp(app);
  app.synth();
}
