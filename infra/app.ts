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
 *
 * The session store's DynamoDB table (see sessionTableFor): named by TH_SESSION_STORE in the file
 * when that is dynamodb://<table>?region=…, else by `sessionTable` (default
 * edge-token-handler-sessions); regions it names besides us-east-1 become replicas (a global
 * table). `pointInTimeRecovery=true` turns on point-in-time recovery. The stack's
 * SessionStoreSetting output is the TH_SESSION_STORE value for the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { validateEdgeSettings } from '../src/config/from-bundle.js';
import { isLoopbackHost } from '../src/config/parse.js';
import { parseStoreSetting } from '../src/stores/select.js';
import { EdgeStack, type SessionTableProps } from './lib/edge-stack.js';
import { DEFAULT_KEY_ALIAS, KeyStack } from './lib/key-stack.js';

export const DEFAULT_SESSION_TABLE = 'edge-token-handler-sessions';
const STACK_REGION = 'us-east-1';

/**
 * The session table to create for these settings and context, or none when TH_SESSION_STORE names
 * another kind of store. Throws when the two disagree on the table's name.
 */
export function sessionTableFor(settings: Readonly<Record<string, string>>, context: { sessionTable?: unknown; pointInTimeRecovery?: unknown }): SessionTableProps | undefined {
  const pointInTimeRecovery = context.pointInTimeRecovery === true || context.pointInTimeRecovery === 'true';
  const named = typeof context.sessionTable === 'string' && context.sessionTable !== '' ? context.sessionTable : undefined;
  const value = settings['TH_SESSION_STORE'];
  if (value === undefined) return { name: named ?? DEFAULT_SESSION_TABLE, replicaRegions: [], pointInTimeRecovery };
  const parsed = parseStoreSetting(value);
  if (!parsed.setting) throw new Error(parsed.problems.join('; '));
  if (parsed.setting.kind !== 'dynamodb') return undefined;
  const { table, regions } = parsed.setting;
  if (named !== undefined && named !== table) throw new Error(`-c sessionTable=${named} names another table than TH_SESSION_STORE (${table})`);
  return { name: table, replicaRegions: regions.filter((region) => region !== STACK_REGION), pointInTimeRecovery };
}

export function buildApp(app: App): { key?: KeyStack; edge?: EdgeStack } {
  const configPath = app.node.tryGetContext('config') as string | undefined;
  if (!configPath) throw new Error('Pass the configuration file: -c config=<path to edge-config.json>');
  const artifactPath = resolve((app.node.tryGetContext('artifact') as string | undefined) ?? '../dist/lambda-edge/function.zip');
  const { settings, config } = validateEdgeSettings(JSON.parse(readFileSync(resolve(configPath), 'utf8')));
  // Lambda@Edge functions must be created in us-east-1; the key sits next to them.
  const env = { region: STACK_REGION, ...(process.env['CDK_DEFAULT_ACCOUNT'] ? { account: process.env['CDK_DEFAULT_ACCOUNT'] } : {}) };
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
  const sessionTable = sessionTableFor(settings, { sessionTable: app.node.tryGetContext('sessionTable'), pointInTimeRecovery: app.node.tryGetContext('pointInTimeRecovery') });
  const edge = new EdgeStack(app, 'EdgeTokenHandler', { env, config, artifactPath, domain, sessionTable, keyArn: keyStack ? keyStack.key.keyArn : keyId! });
  return keyStack ? { key: keyStack, edge } : { edge };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const app = new App();
  buildApp(app);
  app.synth();
}
