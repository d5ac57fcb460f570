/**
 * The KMS key that encrypts the Lambda@Edge secret settings. Its own stack, deployed first: the
 * secrets must be encrypted under it (npm run edge:encrypt-secret) before the function is built.
 * It lives in us-east-1, next to the function; the function calls it from every edge Region.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export const DEFAULT_KEY_ALIAS = 'alias/edge-token-handler';

export interface KeyStackProps extends StackProps {
  readonly alias?: string;
}

export class KeyStack extends Stack {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: KeyStackProps = {}) {
    super(scope, id, props);
    this.key = new kms.Key(this, 'SecretsKey', {
      alias: props.alias ?? DEFAULT_KEY_ALIAS,
      description: 'Encrypts the token handler secrets bundled into its Lambda@Edge function',
      enableKeyRotation: true,
      // Deleting it would make every bundled ciphertext undecryptable.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new CfnOutput(this, 'KeyArn', { value: this.key.keyArn, description: 'npm run edge:encrypt-secret -- --key-id <this>' });
  }
}
