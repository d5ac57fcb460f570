/**
 * The DynamoDB table's shape, shared by the store and the deployments that create the table
 * (infra/, serverless/serverless.yml): a string partition key, a string value, and the TTL
 * attribute DynamoDB deletes expired items by (epoch seconds). No AWS SDK here.
 */
export const DYNAMODB_TABLE = {
  keyAttribute: 'k',
  valueAttribute: 'v',
  ttlAttribute: 'expires_at',
  /** The only item actions the store calls: what the function's role is granted on the table. */
  actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
} as const;
