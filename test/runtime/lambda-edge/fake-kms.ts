/**
 * A hand-made FAKE of the AWS KMS endpoint (JSON 1.1 protocol: `POST /`,
 * `X-Amz-Target: TrentService.<Operation>`, base64 blobs in JSON), for Encrypt and Decrypt only.
 * It exists because no real KMS can run here: local-kms is not on npm, LocalStack and moto need
 * Docker or PyPI. The client side is the real `@aws-sdk/client-kms`, so its serialisation, SigV4
 * signing and error parsing all run for real; this endpoint checks the signature independently
 * (a from-scratch SigV4 verifier, not the SDK's signer), the key and the encryption context, the
 * way KMS does, and answers in KMS's error format.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Dummy static credentials: the tests put them in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
export const FAKE_CREDENTIALS = { accessKeyId: 'AKIAFAKEKMS000000001', secretAccessKey: 'fake-kms-secret-used-only-in-tests' } as const;

export interface KmsCall {
  readonly target: string;
  readonly body: Record<string, unknown>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface FakeKms {
  readonly url: string;
  readonly keyArn: string;
  readonly aliasName: string;
  readonly calls: KmsCall[];
  /** When set, every Decrypt is refused with AccessDeniedException (a role without kms:Decrypt). */
  denyDecrypt: boolean;
  /** Ciphertext (base64) as Encrypt would return it, for test setup. */
  encrypt(plaintext: string, context: Record<string, string>): string;
  close(): Promise<void>;
}

interface Sealed {
  readonly plaintext: Buffer;
  readonly context: string;
}

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';

export async function startFakeKms(): Promise<FakeKms> {
  const keyId = randomUUID();
  const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
  const aliasName = 'alias/edge-token-handler';
  const names = new Set([keyId, keyArn, aliasName, `arn:aws:kms:${REGION}:${ACCOUNT}:${aliasName}`]);
  const store = new Map<string, Sealed>();
  const calls: KmsCall[] = [];

  const seal = (plaintext: Buffer, context: unknown): string => {
    // Opaque to the client, like real ciphertext; the fake looks the blob up instead of decrypting it.
    const blob = Buffer.concat([Buffer.from([1, 2, 0]), randomBytes(45)]).toString('base64');
    store.set(blob, { plaintext, context: canonicalContext(context) });
    return blob;
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => fail(res, 500, 'KMSInternalException', 'fake KMS failed'));
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return fail(res, 400, 'SerializationException', 'body is not JSON');
    }
    calls.push({ target, body, headers: { ...req.headers } });
    if (req.method !== 'POST' || req.url !== '/') return fail(res, 404, 'UnknownOperationException', 'not found');
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') return fail(res, 400, 'SerializationException', 'wrong content type');
    const signatureProblem = verifySigV4(req, raw);
    if (signatureProblem) return fail(res, 400, signatureProblem.code, signatureProblem.message);

    if (target === 'TrentService.Encrypt') {
      if (!names.has(String(body['KeyId']))) return fail(res, 400, 'NotFoundException', 'key not found');
      const sealed = seal(Buffer.from(String(body['Plaintext']), 'base64'), body['EncryptionContext']);
      return ok(res, { CiphertextBlob: sealed, KeyId: keyArn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    }
    if (target === 'TrentService.Decrypt') {
      if (fake.denyDecrypt) {
        return fail(res, 400, 'AccessDeniedException', `User: arn:aws:sts::${ACCOUNT}:assumed-role/edge/fn is not authorized to perform: kms:Decrypt on resource: ${keyArn}`);
      }
      if (body['KeyId'] !== undefined && !names.has(String(body['KeyId']))) return fail(res, 400, 'IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
      const sealed = store.get(String(body['CiphertextBlob']));
      if (!sealed || sealed.context !== canonicalContext(body['EncryptionContext'])) return fail(res, 400, 'InvalidCiphertextException', '');
      return ok(res, { KeyId: keyArn, Plaintext: sealed.plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    }
    return fail(res, 400, 'UnknownOperationException', `unsupported target ${target}`);
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeKms = {
    url: `http://127.0.0.1:${port}`,
    keyArn,
    aliasName,
    calls,
    denyDecrypt: false,
    encrypt: (plaintext, context) => seal(Buffer.from(plaintext, 'utf8'), context),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}

function canonicalContext(context: unknown): string {
  if (!context || typeof context !== 'object') return '{}';
  return JSON.stringify(Object.fromEntries(Object.entries(context).sort(([a], [b]) => a.localeCompare(b))));
}

function ok(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify(body));
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code, 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify({ __type: code, message }));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * AWS Signature Version 4, verified from the specification (canonical request, string to sign,
 * derived key) for the fake's credentials and the us-east-1/kms scope. Returns KMS's error, if any.
 */
function verifySigV4(req: IncomingMessage, body: Buffer): { code: string; message: string } | undefined {
  const authorization = String(req.headers['authorization'] ?? '');
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(authorization);
  if (!match) return { code: 'MissingAuthenticationTokenException', message: 'missing or malformed Authorization' };
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as [string, string, string, string, string, string, string];
  if (accessKeyId !== FAKE_CREDENTIALS.accessKeyId) return { code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  if (region !== REGION || service !== 'kms') return { code: 'InvalidSignatureException', message: `credential scope ${region}/${service} is not ${REGION}/kms` };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date)) return { code: 'InvalidSignatureException', message: 'date mismatch' };
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-target')) return { code: 'InvalidSignatureException', message: 'host and x-amz-target must be signed' };
  const canonicalHeaders = names.map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [req.method, '/', '', canonicalHeaders, signedHeaders, sha256(body)].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${FAKE_CREDENTIALS.secretAccessKey}`, date), region), service), 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
  return expected === signature ? undefined : { code: 'InvalidSignatureException', message: 'The request signature we calculated does not match the signature you provided.' };
}
