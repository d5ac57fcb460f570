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
 * When TH_KMS_KEY_ID in the file is a key ARN, that key is used and no key stack is made.
 * Paths are relative to the current directory.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { validateEdgeSettings } from '../src/config/from-bundle.js';
import { isLoopbackHost } from '../src/config/parse-config.js';
import { EdgeStack } from './lib/edge-stack.js';
import { DEFAULT_KEY_ALIAS, KeyStack } from './lib/key-stack.js';

export function buildApp(app: App): { key?: KeyStack; edge: EdgeStack } {
  const configPath = app.node.tryGetContext('config') as string | undefined;
  if (!configPath) throw new Error('Pass the configuration file: -c config=<path to edge-config.json>');
  const artifactPath = resolve((app.node.tryGetContext('artifact') as string | undefined) ?? '../dist/lambda-edge/function.zip');
  const { settings, config } = validateEdgeSettings(JSON.parse(readFileSync(resolve(configPath), 'utf8')));
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
  // Lambda@Edge functions must be created in us-east-1; the key sits next to them.
  const env = { region: 'us-east-1', ...(process.env['CDK_DEFAULT_ACCOUNT'] ? { account: process.env['CDK_DEFAULT_ACCOUNT'] } : {}) };
  const keyId = settings['TH_KMS_KEY_ID'];
  if (keyId?.startsWith('arn:aws:kms:') && keyId.includes(':key/')) {
    const edge = new EdgeStack(app, 'EdgeTokenHandler', { env, config, artifactPath, domain, key: kms.Key.fromKeyArn(app, 'ExistingKey', keyId) });
    return { edge };
  }
  const key = new KeyStack(app, 'EdgeTokenHandlerKey', { env, alias: keyId?.startsWith('alias/') ? keyId : DEFAULT_KEY_ALIAS });
  const edge = new EdgeStack(app, 'EdgeTokenHandler', { env, config, artifactPath, domain, key: key.key });
  return { key, edge };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const app = new App();
  buildApp(app);
  app.synth();
}
