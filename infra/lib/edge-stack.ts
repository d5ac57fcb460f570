/**
 * The token handler on Lambda@Edge behind CloudFront: the function (us-east-1, a numbered version,
 * no environment variables: its settings are bundled), decrypt rights on the secrets key, the
 * session store's DynamoDB table (contract §6; a global table when it has replicas), a private
 * S3 bucket for the SPA behind origin access control, and the distribution. The agent path and
 * each API route get a behaviour that runs the function on origin-request, with caching disabled
 * (a generated login response must never be cached for another user), every viewer header,
 * cookie and query string passed on, and HTTPS only.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { Config } from '../../src/config/parse.js';
import { DYNAMODB_TABLE } from '../../src/stores/dynamodb-table.js';

/** The session store's table: see sessionTableFor in ../app.ts. */
export interface SessionTableProps {
  readonly name: string;
  /** Regions other than the stack's that hold a replica (a global table). */
  readonly replicaRegions: readonly string[];
  readonly pointInTimeRecovery: boolean;
}

export interface EdgeStackProps extends StackProps {
  /** The validated settings (validateEdgeSettings): the agent path and API routes shape the behaviours. */
  readonly config: Config;
  /** dist/lambda-edge/function.zip from npm run build:edge. */
  readonly artifactPath: string;
  /** The key the kms: settings were encrypted with (an ARN, or a reference to the key stack's key). */
  readonly keyArn: string;
  /** The public origin's host name and its ACM certificate (us-east-1); absent on *.cloudfront.net. */
  readonly domain?: { readonly name: string; readonly certificateArn: string };
  /** Absent when TH_SESSION_STORE names a store that is not DynamoDB. */
  readonly sessionTable?: SessionTableProps;
}

export class EdgeStack extends Stack {
  readonly distribution: cloudfront.Distribution;
  readonly function: cloudfront.experimental.EdgeFunction;
  readonly sessionTable?: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.function = new cloudfront.experimental.EdgeFunction(this, 'TokenHandler', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(props.artifactPath),
      // Origin triggers allow up to 10 GB and 30 s; more memory is more CPU for the cold start.
      memorySize: 256,
      timeout: Duration.seconds(10),
      description: 'Token handler (OAuth agent and API proxy) at the edge',
    });
    // Decrypt only, and only ciphertext made for this application (its encryption context).
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [props.keyArn],
        conditions: { StringEquals: { 'kms:EncryptionContext:app': 'edge-token-handler' } },
      }),
    );

    if (props.sessionTable) {
      const { name, replicaRegions, pointInTimeRecovery } = props.sessionTable;
      // On demand, so an idle deployment costs nothing; DynamoDB deletes expired items by the TTL
      // attribute (the store also ignores those it has not deleted yet). Kept when the stack goes:
      // it holds revocations.
      this.sessionTable = new dynamodb.TableV2(this, 'SessionTable', {
        tableName: name,
        partitionKey: { name: DYNAMODB_TABLE.keyAttribute, type: dynamodb.AttributeType.STRING },
        billing: dynamodb.Billing.onDemand(),
        timeToLiveAttribute: DYNAMODB_TABLE.ttlAttribute,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: pointInTimeRecovery },
        replicas: replicaRegions.map((region) => ({ region })),
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // Exactly the item actions the store calls, on this table and its replicas only (a function
      // running near another region uses the replica there; the table's own grant covers only
      // the stack's region).
      const table = this.sessionTable;
      this.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [...DYNAMODB_TABLE.actions],
          resources: [table.tableArn, ...replicaRegions.map((region) => table.replica(region).tableArn)],
        }),
      );
      new CfnOutput(this, 'SessionStoreSetting', {
        value: `dynamodb://${name}?region=${[this.region, ...replicaRegions].join(',')}`,
        description: 'TH_SESSION_STORE for the configuration file',
      });
    }

    const bucket = new s3.Bucket(this, 'Spa', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const spaOrigin = origins.S3BucketOrigin.withOriginAccessControl(bucket);

    // One origin per upstream host. CloudFront resolves a behaviour's origin before the function
    // runs; the function then points each request at its own route's upstream.
    const upstreams = new Map<string, origins.HttpOrigin>();
    const upstreamOrigin = (upstream: string): origins.HttpOrigin => {
      const url = new URL(upstream);
      let origin = upstreams.get(url.host);
      if (!origin) {
        origin = new origins.HttpOrigin(url.hostname, {
          protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
          ...(url.port ? { httpsPort: Number(url.port) } : {}),
        });
        upstreams.set(url.host, origin);
      }
      return origin;
    };

    const version = this.function.currentVersion;
    const behaviour = (origin: cloudfront.IOrigin, edgeLambdas: cloudfront.EdgeLambda[]): cloudfront.BehaviorOptions => ({
      origin,
      edgeLambdas,
      // Refused rather than redirected: a redirected POST loses its body.
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      compress: false,
    });

    const additionalBehaviors: Record<string, cloudfront.BehaviorOptions> = {};
    // The agent's answers all come from the function; its origin only has to exist.
    const firstRoute = config.apiRoutes[0];
    additionalBehaviors[`${config.agentPath}/*`] = behaviour(firstRoute ? upstreamOrigin(firstRoute.upstream) : spaOrigin, [
      // The agent endpoints read their form bodies (base64 in the event, 1 MB at most).
      { functionVersion: version, eventType: cloudfront.LambdaEdgeEventType.ORIGIN_REQUEST, includeBody: true },
    ]);
    for (const route of config.apiRoutes) {
      additionalBehaviors[`${route.prefix}/*`] = behaviour(upstreamOrigin(route.upstream), [
        // API bodies go from CloudFront to the API directly; the function never sees them.
        { functionVersion: version, eventType: cloudfront.LambdaEdgeEventType.ORIGIN_REQUEST, includeBody: false },
        // Drops Set-Cookie that would touch the token handler's cookies; CORS for extra trusted origins.
        { functionVersion: version, eventType: cloudfront.LambdaEdgeEventType.ORIGIN_RESPONSE },
      ]);
    }

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `Token handler for ${config.publicOrigin}`,
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      ...(props.domain
        ? { domainNames: [props.domain.name], certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', props.domain.certificateArn) }
        : {}),
      defaultBehavior: {
        origin: spaOrigin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
      },
      additionalBehaviors,
    });

    new CfnOutput(this, 'DistributionDomainName', { value: this.distribution.distributionDomainName });
    new CfnOutput(this, 'SpaBucketName', { value: bucket.bucketName, description: 'aws s3 sync <spa dir> s3://<this>' });
  }
}
