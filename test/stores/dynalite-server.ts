/**
 * dynalite (the DynamoDB API in Node, on an in-memory LevelDB) on loopback for the tests: in this
 * process, or in a child process that can be paused (SIGSTOP) to play a DynamoDB that stopped
 * answering. The table is made with the real AWS SDK client, in the shape the deployments give it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { DYNAMODB_TABLE } from '../../src/stores/dynamodb-table.js';

export const TEST_REGION = 'us-east-1';
/** dynalite checks no signature; the SDK needs something to sign with. */
export const TEST_CREDENTIALS = { accessKeyId: 'test-access-key', secretAccessKey: 'test-secret-key' };

export async function createTable(endpoint: string, table: string): Promise<void> {
  const client = new DynamoDBClient({ region: TEST_REGION, endpoint, credentials: TEST_CREDENTIALS });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: DYNAMODB_TABLE.keyAttribute, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: DYNAMODB_TABLE.keyAttribute, KeyType: 'HASH' }],
      }),
    );
  } finally {
    client.destroy();
  }
}

/** dynalite in this process; stopped and started again on the same port (empty: it keeps nothing). */
export class Dynalite {
  #server: Server | undefined;

  private constructor(public port: number) {}

  static async start(): Promise<Dynalite> {
    const instance = new Dynalite(0);
    await instance.startAgain();
    return instance;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async startAgain(): Promise<void> {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Closes it and every connection to it. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }
}

/** dynalite in a child process, which can be paused. */
export class DynaliteProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<DynaliteProcess> {
    const script = `const server = require('dynalite')({ createTableMs: 0 }); server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
    const child = spawn(process.execPath, ['-e', script], { cwd: new URL('../../', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
      child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    });
    return new DynaliteProcess(child, port);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await exited;
  }
}
