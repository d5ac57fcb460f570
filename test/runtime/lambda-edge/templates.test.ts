/**
 * The two deployments, generated offline and checked where a mistake would be a security bug or a
 * 502: `osls package` for serverless/serverless.yml, and the CDK app in infra/ synthesised with
 * aws-cdk-lib's assertions. Both use the zip built from the example configuration. Both create the
 * session store's DynamoDB table and grant the function only the item actions the store calls.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, DEFAULT_SESSION_TABLE, sessionTableFor } from '../../../infra/app.js';
import { EdgeStack } from '../../../infra/lib/edge-stack.js';
import { buildEdge } from '../../../scripts/build-edge.js';
import { validateEdgeSettings } from '../../../src/config/from-bundle.js';
import { DYNAMODB_TABLE } from '../../../src/stores/dynamodb-table.js';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const EXAMPLE = join(ROOT, 'examples', 'edge-config.example.json');
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const CACHING_OPTIMIZED = '658327ea-f89d-4fab-a63d-7e88639e58f6';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';
const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:111122223333:certificate/abcd1234-ab12-cd34-ef56-abcdef123456';
const STORE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'];

let dir: string;
let artifact: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'th-edge-templates-'));
  artifact = (await buildEdge({ configPath: EXAMPLE, outDir: join(dir, 'dist') })).zipPath!;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
interface Behaviour {
  PathPattern?: string;
  TargetOriginId: string;
  ViewerProtocolPolicy: string;
  CachePolicyId: string;
  OriginRequestPolicyId?: unknown;
  AllowedMethods?: unknown;
  LambdaFunctionAssociations?: { EventType: string; IncludeBody?: boolean; LambdaFunctionARN: unknown }[];
}
interface DistributionConfig {
  CacheBehaviors: Behaviour[];
  DefaultCacheBehavior: Behaviour;
  Origins: unknown[];
  Aliases?: string[];
  ViewerCertificate?: unknown;
}

function distributionConfig(resource: unknown): DistributionConfig {
  return (resource as { Properties: { DistributionConfig: DistributionConfig } }).Properties.DistributionConfig;
}

function behavioursByPath(config: DistributionConfig): Record<string, Behaviour> {
  return Object.fromEntries(config.CacheBehaviors.map((b) => [b.PathPattern, b]));
}

/** `osls package` of serverless/serverless.yml with these extra parameters; the template's resources and outputs. */
async function oslsPackage(name: string, params: string[] = []): Promise<{ Resources: Resources; Outputs: Record<string, { Value: unknown }> }> {
  const out = join(dir, name);
  await run(
    process.execPath,
    [join(ROOT, 'node_modules/osls/bin/serverless.js'), 'package', '--stage', 'test', `--param=kmsKeyArn=${KEY_ARN}`, '--param=domainName=www.example.com', `--param=certificateArn=${CERTIFICATE_ARN}`, `--param=artifact=${artifact}`, ...params, '--package', out],
    // Offline: no telemetry, no update notices, and never the instance-metadata endpoint.
    { cwd: join(ROOT, 'serverless'), env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', AWS_EC2_METADATA_DISABLED: 'true' } },
  );
  return JSON.parse(await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as { Resources: Resources; Outputs: Record<string, { Value: unknown }> };
}

describe('osls package (serverless/serverless.yml)', () => {
  let resources: Resources;
  let outputs: Record<string, { Value: unknown }>;

  beforeAll(async () => {
    ({ Resources: resources, Outputs: outputs } = await oslsPackage('sls'));
  });

  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  it('deploys the function as a version, without environment variables, for nodejs22.x', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions).toHaveLength(1);
    const fn = functions[0]![1].Properties;
    expect(fn['Environment']).toBeUndefined();
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler', MemorySize: 256, Timeout: 10 });
    expect(ofType('AWS::Lambda::Version')).toHaveLength(1);
    const role = resources['IamRoleLambdaExecution']!.Properties as { AssumeRolePolicyDocument: { Statement: { Principal: { Service: string[] } }[] } };
    expect(role.AssumeRolePolicyDocument.Statement[0]!.Principal.Service).toEqual(expect.arrayContaining(['lambda.amazonaws.com', 'edgelambda.amazonaws.com']));
  });

  it('puts /oauth-agent/* and /api/* on the function with caching disabled, all viewer values but Host, HTTPS only', () => {
    const distributions = ofType('AWS::CloudFront::Distribution');
    expect(distributions).toHaveLength(1);
    const config = distributionConfig(distributions[0]![1]);
    const versionRef = { Ref: ofType('AWS::Lambda::Version')[0]![0] };
    const byPath = behavioursByPath(config);
    expect(Object.keys(byPath).sort()).toEqual(['/api/*', '/oauth-agent/*']);
    for (const behaviour of Object.values(byPath)) {
      expect(behaviour).toMatchObject({ CachePolicyId: CACHING_DISABLED, OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER, ViewerProtocolPolicy: 'https-only' });
      expect(behaviour.AllowedMethods).toEqual(['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE']);
    }
    expect(byPath['/oauth-agent/*']!.LambdaFunctionAssociations).toEqual([{ EventType: 'origin-request', IncludeBody: true, LambdaFunctionARN: versionRef }]);
    expect(byPath['/api/*']!.LambdaFunctionAssociations).toEqual([
      { EventType: 'origin-request', IncludeBody: false, LambdaFunctionARN: versionRef },
      { EventType: 'origin-response', LambdaFunctionARN: versionRef },
    ]);
    // The SPA: from S3 through origin access control, cached, redirected to HTTPS, no function.
    expect(config.DefaultCacheBehavior).toMatchObject({ TargetOriginId: 'spa', ViewerProtocolPolicy: 'redirect-to-https', CachePolicyId: CACHING_OPTIMIZED });
    expect(config.DefaultCacheBehavior.LambdaFunctionAssociations).toBeUndefined();
    expect(config.DefaultCacheBehavior.OriginRequestPolicyId).toEqual({ Ref: 'AWS::NoValue' });
    expect(config.Aliases).toEqual(['www.example.com']);
    expect(config.ViewerCertificate).toEqual({ AcmCertificateArn: CERTIFICATE_ARN, SslSupportMethod: 'sni-only', MinimumProtocolVersion: 'TLSv1.2_2021' });
    expect(config.Origins).toContainEqual(
      expect.objectContaining({ Id: 'spa', OriginAccessControlId: { 'Fn::GetAtt': ['SpaOriginAccessControl', 'Id'] }, S3OriginConfig: { OriginAccessIdentity: '' } }),
    );
  });

  it("grants kms:Decrypt on the secrets key, for this application's encryption context only", () => {
    const policy = resources['IamRoleLambdaExecution']!.Properties as { Policies: { PolicyDocument: { Statement: { Action: string[]; Resource: unknown; Condition?: unknown }[] } }[] };
    const statements = policy.Policies.flatMap((p) => p.PolicyDocument.Statement).filter((s) => s.Action.some((a) => a.startsWith('kms:')));
    expect(statements).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt'], Resource: KEY_ARN, Condition: { StringEquals: { 'kms:EncryptionContext:app': 'edge-token-handler' } } }]);
  });

  it('creates the session table: on demand, keyed by k, TTL on expires_at, kept on removal, point-in-time recovery off unless asked', async () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables.map(([id]) => id)).toEqual(['SessionTable']);
    const table = resources['SessionTable']! as unknown as { DeletionPolicy: string; Properties: Record<string, unknown> };
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.Properties).toEqual({
      TableName: 'edge-token-handler-test-sessions',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: DYNAMODB_TABLE.keyAttribute, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: DYNAMODB_TABLE.keyAttribute, KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: DYNAMODB_TABLE.ttlAttribute, Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
    });
    expect(outputs['SessionStoreSetting']!.Value).toBe('dynamodb://edge-token-handler-test-sessions?region=us-east-1');

    const named = (await oslsPackage('sls-pitr', ['--param=pointInTimeRecovery=true', '--param=sessionTable=th-prod-sessions'])).Resources['SessionTable']!.Properties;
    expect(named['TableName']).toBe('th-prod-sessions');
    expect(String((named['PointInTimeRecoverySpecification'] as { PointInTimeRecoveryEnabled: unknown }).PointInTimeRecoveryEnabled)).toBe('true');
  });

  it('grants the function the store\'s item actions, GetItem, PutItem and DeleteItem only, on the session table only', () => {
    expect([...DYNAMODB_TABLE.actions]).toEqual(STORE_ACTIONS);
    const policy = resources['IamRoleLambdaExecution']!.Properties as { Policies: { PolicyDocument: { Statement: { Action: string[]; Resource: unknown }[] } }[] };
    const statements = policy.Policies.flatMap((p) => p.PolicyDocument.Statement).filter((s) => s.Action.some((a) => a.startsWith('dynamodb:')));
    expect(statements).toEqual([{ Effect: 'Allow', Action: STORE_ACTIONS, Resource: { 'Fn::GetAtt': ['SessionTable', 'Arn'] } }]);
  });

  it('keeps the SPA bucket private: public access blocked, readable only by this distribution', () => {
    expect(resources['SpaBucket']!.Properties['PublicAccessBlockConfiguration']).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    const statement = (resources['SpaBucketPolicy']!.Properties as { PolicyDocument: { Statement: Record<string, unknown>[] } }).PolicyDocument.Statement;
    expect(statement).toHaveLength(1);
    expect(statement[0]).toMatchObject({ Principal: { Service: 'cloudfront.amazonaws.com' }, Action: 's3:GetObject', Condition: { StringEquals: { 'AWS:SourceArn': expect.anything() } } });
  });
});

describe('cdk synth (infra/)', () => {
  let edge: Template;
  let key: Template;

  beforeAll(() => {
    const app = new App({ outdir: join(dir, 'cdk.out'), context: { config: EXAMPLE, artifact, certificateArn: CERTIFICATE_ARN } });
    const stacks = buildApp(app);
    edge = Template.fromStack(stacks.edge!);
    key = Template.fromStack(stacks.key!);
  });

  it('creates the function in us-east-1 with no environment variables, for nodejs22.x', () => {
    const functions = Object.values(edge.findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(1);
    expect(functions[0]!['Properties']['Environment']).toBeUndefined();
    edge.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs22.x', Handler: 'index.handler', MemorySize: 256, Timeout: 10 });
    edge.resourceCountIs('AWS::Lambda::Version', 1);
    const roles = Object.values(edge.findResources('AWS::IAM::Role')) as { Properties: { AssumeRolePolicyDocument: { Statement: { Principal: { Service: string } }[] } } }[];
    expect(roles).toHaveLength(1);
    const principals = roles[0]!.Properties.AssumeRolePolicyDocument.Statement.map((s) => s.Principal.Service);
    expect(principals.sort()).toEqual(['edgelambda.amazonaws.com', 'lambda.amazonaws.com']);
  });

  it('puts the agent path and every API route on the function with caching disabled, all viewer values but Host, HTTPS only', () => {
    const distributions = Object.values(edge.findResources('AWS::CloudFront::Distribution'));
    expect(distributions).toHaveLength(1);
    const config = distributionConfig(distributions[0]);
    const byPath = behavioursByPath(config);
    expect(Object.keys(byPath).sort()).toEqual(['/api/*', '/oauth-agent/*']);
    for (const behaviour of Object.values(byPath)) {
      expect(behaviour).toMatchObject({ CachePolicyId: CACHING_DISABLED, OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER, ViewerProtocolPolicy: 'https-only' });
    }
    const associations = (path: string) => byPath[path]!.LambdaFunctionAssociations!.map((a) => [a.EventType, a.IncludeBody ?? false]);
    expect(associations('/oauth-agent/*')).toEqual([['origin-request', true]]);
    expect(associations('/api/*')).toEqual([
      ['origin-request', false],
      ['origin-response', false],
    ]);
    expect(config.DefaultCacheBehavior).toMatchObject({ ViewerProtocolPolicy: 'redirect-to-https', CachePolicyId: CACHING_OPTIMIZED });
    expect(config.DefaultCacheBehavior.LambdaFunctionAssociations).toBeUndefined();
    edge.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    // Served on TH_PUBLIC_ORIGIN's host, the origin the IdP's redirect URIs name.
    expect(config.Aliases).toEqual(['www.example.com']);
    expect(config.ViewerCertificate).toEqual({ AcmCertificateArn: CERTIFICATE_ARN, SslSupportMethod: 'sni-only', MinimumProtocolVersion: 'TLSv1.2_2021' });
  });

  it('defines only the key stack until the function has been built (the secrets are encrypted under it first)', () => {
    const stacks = buildApp(new App({ outdir: join(dir, 'cdk.key'), context: { config: EXAMPLE, artifact: join(dir, 'not-built.zip') } }));
    expect(stacks.edge).toBeUndefined();
    Template.fromStack(stacks.key!).hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('uses an existing key named by its ARN in TH_KMS_KEY_ID, with no key stack', async () => {
    const own = join(dir, 'own-key.json');
    await writeFile(own, JSON.stringify({ ...(JSON.parse(await readFile(EXAMPLE, 'utf8')) as object), TH_KMS_KEY_ID: KEY_ARN }));
    const stacks = buildApp(new App({ outdir: join(dir, 'cdk.own'), context: { config: own, artifact, certificateArn: CERTIFICATE_ARN } }));
    expect(stacks.key).toBeUndefined();
    const template = Template.fromStack(stacks.edge!);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.hasResourceProperties('AWS::IAM::Policy', { PolicyDocument: { Statement: Match.arrayWith([{ Action: 'kms:Decrypt', Resource: KEY_ARN, Effect: 'Allow', Condition: { StringEquals: { 'kms:EncryptionContext:app': 'edge-token-handler' } } }]) } });
  });

  it('refuses a custom public origin without its certificate', () => {
    expect(() => buildApp(new App({ outdir: join(dir, 'cdk.none'), context: { config: EXAMPLE, artifact } }))).toThrow(
      'TH_PUBLIC_ORIGIN is https://www.example.com: pass its ACM certificate (in us-east-1) with -c certificateArn=<arn>',
    );
  });

  it('creates the session table: on demand, keyed by k, TTL on expires_at, kept on removal, point-in-time recovery off unless asked', () => {
    const tables = Object.values(edge.findResources('AWS::DynamoDB::GlobalTable')) as { DeletionPolicy: string; Properties: Record<string, unknown> }[];
    expect(tables).toHaveLength(1);
    expect(tables[0]!.DeletionPolicy).toBe('Retain');
    expect(tables[0]!.Properties).toEqual({
      TableName: DEFAULT_SESSION_TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: DYNAMODB_TABLE.keyAttribute, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: DYNAMODB_TABLE.keyAttribute, KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: DYNAMODB_TABLE.ttlAttribute, Enabled: true },
      Replicas: [{ Region: 'us-east-1', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false } }],
    });
    edge.hasOutput('SessionStoreSetting', { Value: `dynamodb://${DEFAULT_SESSION_TABLE}?region=us-east-1` });

    const named = buildApp(new App({ outdir: join(dir, 'cdk.pitr'), context: { config: EXAMPLE, artifact, certificateArn: CERTIFICATE_ARN, sessionTable: 'th-prod-sessions', pointInTimeRecovery: 'true' } }));
    Template.fromStack(named.edge!).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'th-prod-sessions',
      Replicas: [{ Region: 'us-east-1', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }],
    });
  });

  it("grants the function the store's item actions, GetItem, PutItem and DeleteItem only, on the session table only", () => {
    const policies = Object.values(edge.findResources('AWS::IAM::Policy')) as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }[];
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')));
    const [tableId] = Object.keys(edge.findResources('AWS::DynamoDB::GlobalTable'));
    expect(statements).toEqual([{ Effect: 'Allow', Action: STORE_ACTIONS, Resource: { 'Fn::GetAtt': [tableId, 'Arn'] } }]);
  });

  it('makes a global table of the regions TH_SESSION_STORE names, granting the function each replica', async () => {
    const { config } = validateEdgeSettings(JSON.parse(await readFile(EXAMPLE, 'utf8')));
    const sessionTable = sessionTableFor({ TH_SESSION_STORE: 'dynamodb://th-global?region=us-east-1,eu-west-1,ap-northeast-1' }, {});
    const app = new App({ outdir: join(dir, 'cdk.global') });
    const stack = new EdgeStack(app, 'Global', { env: { region: 'us-east-1' }, config, artifactPath: artifact, keyArn: KEY_ARN, sessionTable });
    const template = Template.fromStack(stack);
    const table = Object.values(template.findResources('AWS::DynamoDB::GlobalTable'))[0] as { Properties: { TableName: string; Replicas: { Region: string }[] } };
    expect(table.Properties.TableName).toBe('th-global');
    expect(table.Properties.Replicas.map((r) => r.Region).sort()).toEqual(['ap-northeast-1', 'eu-west-1', 'us-east-1']);
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }[];
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')));
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Action).toEqual(STORE_ACTIONS);
    const resources = JSON.stringify(statements[0]!.Resource);
    for (const region of ['eu-west-1', 'ap-northeast-1']) expect(resources).toContain(`:dynamodb:${region}:`);
    template.hasOutput('SessionStoreSetting', { Value: 'dynamodb://th-global?region=us-east-1,eu-west-1,ap-northeast-1' });
  });

  it('takes the table from TH_SESSION_STORE, makes none for another kind of store, and refuses a conflicting -c sessionTable', () => {
    expect(sessionTableFor({}, {})).toEqual({ name: DEFAULT_SESSION_TABLE, replicaRegions: [], pointInTimeRecovery: false });
    expect(sessionTableFor({}, { sessionTable: 'mine', pointInTimeRecovery: 'true' })).toEqual({ name: 'mine', replicaRegions: [], pointInTimeRecovery: true });
    expect(sessionTableFor({ TH_SESSION_STORE: 'dynamodb://th-sessions?region=eu-west-1' }, { pointInTimeRecovery: true })).toEqual({ name: 'th-sessions', replicaRegions: ['eu-west-1'], pointInTimeRecovery: true });
    expect(sessionTableFor({ TH_SESSION_STORE: 'dynamodb://th-sessions?region=us-east-1' }, { sessionTable: 'th-sessions' })).toMatchObject({ name: 'th-sessions' });
    expect(sessionTableFor({ TH_SESSION_STORE: 'memory' }, {})).toBeUndefined();
    expect(sessionTableFor({ TH_SESSION_STORE: 'rediss://cache.example.com' }, {})).toBeUndefined();
    expect(() => sessionTableFor({ TH_SESSION_STORE: 'dynamodb://th-sessions?region=us-east-1' }, { sessionTable: 'other' })).toThrow(
      '-c sessionTable=other names another table than TH_SESSION_STORE (th-sessions)',
    );
    expect(() => sessionTableFor({ TH_SESSION_STORE: 'dynamodb://x?region=us-east-1' }, {})).toThrow('TH_SESSION_STORE: a DynamoDB table name is 3 to 255 of A-Z a-z 0-9 _ . -');
  });

  it('keeps the secrets key in us-east-1 with rotation, and grants the function kms:Decrypt on it only', () => {
    key.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    key.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/edge-token-handler' });
    expect(key.toJSON()['Resources']).toBeDefined();
    const policies = Object.values(edge.findResources('AWS::IAM::Policy')) as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[] } } }[];
    const kmsStatements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s) => [s.Action].flat().some((a) => a.startsWith('kms:')));
    expect(kmsStatements).toEqual([
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::ImportValue': expect.stringContaining('SecretsKey') },
        Condition: { StringEquals: { 'kms:EncryptionContext:app': 'edge-token-handler' } },
      },
    ]);
  });
});
