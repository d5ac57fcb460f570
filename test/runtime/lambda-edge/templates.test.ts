/**
 * The two deployments, generated offline and checked where a mistake would be a security bug or a
 * 502: `osls package` for serverless/serverless.yml, and the CDK app in infra/ synthesised with
 * aws-cdk-lib's assertions. Both use the zip built from the example configuration.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../infra/app.js';
import { buildEdge } from '../../../scripts/build-edge.js';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const EXAMPLE = join(ROOT, 'examples', 'edge-config.example.json');
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const CACHING_OPTIMIZED = '658327ea-f89d-4fab-a63d-7e88639e58f6';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';
const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:111122223333:certificate/abcd1234-ab12-cd34-ef56-abcdef123456';

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

describe('osls package (serverless/serverless.yml)', () => {
  let resources: Resources;

  beforeAll(async () => {
    const out = join(dir, 'sls');
    await run(
      process.execPath,
      [join(ROOT, 'node_modules/osls/bin/serverless.js'), 'package', '--stage', 'test', `--param=kmsKeyArn=${KEY_ARN}`, '--param=domainName=www.example.com', `--param=certificateArn=${CERTIFICATE_ARN}`, `--param=artifact=${artifact}`, '--package', out],
      // Offline: no telemetry, no update notices, and never the instance-metadata endpoint.
      { cwd: join(ROOT, 'serverless'), env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', AWS_EC2_METADATA_DISABLED: 'true' } },
    );
    resources = (JSON.parse(await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as { Resources: Resources }).Resources;
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
    template.hasResourceProperties('AWS::IAM::Policy', { PolicyDocument: { Statement: [{ Action: 'kms:Decrypt', Resource: KEY_ARN, Effect: 'Allow', Condition: { StringEquals: { 'kms:EncryptionContext:app': 'edge-token-handler' } } }] } });
  });

  it('refuses a custom public origin without its certificate', () => {
    expect(() => buildApp(new App({ outdir: join(dir, 'cdk.none'), context: { config: EXAMPLE, artifact } }))).toThrow(
      'TH_PUBLIC_ORIGIN is https://www.example.com: pass its ACM certificate (in us-east-1) with -c certificateArn=<arn>',
    );
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
