/**
 * TH_SESSION_STORE and TH_SESSION_STORE_ENDPOINT: what each form reads as, every bad form refused
 * with a problem that names the setting and never repeats its value (a Redis URL may hold a
 * password), and each store's module (with its client library) loaded only when it is chosen.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseStoreSetting, selectSessionStore } from '../../src/stores/select.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

describe('parseStoreSetting', () => {
  it('reads memory and durable-object', () => {
    expect(parseStoreSetting('memory')).toEqual({ setting: { kind: 'memory' } });
    expect(parseStoreSetting('durable-object')).toEqual({ setting: { kind: 'durable-object' } });
  });

  it('reads redis:// and rediss:// URLs: host, port (6379), credentials (percent-decoded), database, cluster', () => {
    expect(parseStoreSetting('redis://cache.internal')).toEqual({ setting: { kind: 'redis', target: { tls: false, host: 'cache.internal', port: 6379, database: 0, cluster: false } } });
    expect(parseStoreSetting('rediss://th-user:p%40ss%3Aw%2Frd@cache.internal:6380/2')).toEqual({
      setting: { kind: 'redis', target: { tls: true, host: 'cache.internal', port: 6380, username: 'th-user', password: 'p@ss:w/rd', database: 2, cluster: false } },
    });
    expect(parseStoreSetting('redis://:only-a-password@10.0.0.5/')).toEqual({ setting: { kind: 'redis', target: { tls: false, host: '10.0.0.5', port: 6379, password: 'only-a-password', database: 0, cluster: false } } });
    expect(parseStoreSetting('rediss://clustercfg.th.abc123.use1.cache.amazonaws.com:6379?cluster=true')).toEqual({
      setting: { kind: 'redis', target: { tls: true, host: 'clustercfg.th.abc123.use1.cache.amazonaws.com', port: 6379, database: 0, cluster: true } },
    });
    expect(parseStoreSetting('redis://[::1]:7000?cluster=false').setting).toEqual({ kind: 'redis', target: { tls: false, host: '::1', port: 7000, database: 0, cluster: false } });
  });

  it('reads dynamodb://<table>?region=<region>, with several regions for a global table, and the endpoint override', () => {
    expect(parseStoreSetting('dynamodb://th-sessions?region=us-east-1')).toEqual({ setting: { kind: 'dynamodb', table: 'th-sessions', regions: ['us-east-1'] } });
    expect(parseStoreSetting('dynamodb://Th_Sessions.v2?region=us-east-1,eu-west-1,ap-southeast-2', 'http://127.0.0.1:8000')).toEqual({
      setting: { kind: 'dynamodb', table: 'Th_Sessions.v2', regions: ['us-east-1', 'eu-west-1', 'ap-southeast-2'], endpoint: 'http://127.0.0.1:8000' },
    });
    expect(parseStoreSetting('dynamodb://t12?region=us-gov-west-1', 'https://dynamodb.us-gov-west-1.amazonaws.com').setting).toMatchObject({ regions: ['us-gov-west-1'] });
  });

  it.each([
    ['', 'TH_SESSION_STORE must be one of memory, redis://…, rediss://…, durable-object or dynamodb://<table>?region=<region>'],
    ['Memory', 'TH_SESSION_STORE must be one of memory, redis://…, rediss://…, durable-object or dynamodb://<table>?region=<region>'],
    [' memory', 'TH_SESSION_STORE must be one of memory, redis://…, rediss://…, durable-object or dynamodb://<table>?region=<region>'],
    ['durable_object', 'TH_SESSION_STORE must be one of memory, redis://…, rediss://…, durable-object or dynamodb://<table>?region=<region>'],
    ['kv', 'TH_SESSION_STORE must be one of memory, redis://…, rediss://…, durable-object or dynamodb://<table>?region=<region>'],
    ['valkey://cache:6379', 'TH_SESSION_STORE must be one of memory, redis://…, rediss://…, durable-object or dynamodb://<table>?region=<region>'],
    ['redis://', 'TH_SESSION_STORE must name the Redis host'],
    ['redis://cache:99999', 'TH_SESSION_STORE is not a valid redis:// or rediss:// URL'],
    ['redis://cache/db1', "TH_SESSION_STORE's path must be empty or a database number, as in redis://host:6379/0"],
    ['redis://cache/1/2', "TH_SESSION_STORE's path must be empty or a database number, as in redis://host:6379/0"],
    ['redis://cache#x', 'TH_SESSION_STORE must not have a #fragment'],
    ['redis://cache?tls=true', 'TH_SESSION_STORE has an unknown option "tls" (only cluster=true or cluster=false)'],
    ['redis://cache?cluster=yes', 'TH_SESSION_STORE has an unknown option "cluster" (only cluster=true or cluster=false)'],
    ['redis://cache/1?cluster=true', 'TH_SESSION_STORE: a Redis cluster has only database 0'],
    ['dynamodb://th-sessions', 'TH_SESSION_STORE must be dynamodb://<table>?region=<region>, with nothing else'],
    ['dynamodb://th-sessions?region=us-east-1&x=1', 'TH_SESSION_STORE must be dynamodb://<table>?region=<region>, with nothing else'],
    ['dynamodb://th/sessions?region=us-east-1', 'TH_SESSION_STORE must be dynamodb://<table>?region=<region>, with nothing else'],
    ['dynamodb://ab?region=us-east-1', 'TH_SESSION_STORE: a DynamoDB table name is 3 to 255 of A-Z a-z 0-9 _ . -'],
    ['dynamodb://th sessions?region=us-east-1', 'TH_SESSION_STORE: a DynamoDB table name is 3 to 255 of A-Z a-z 0-9 _ . -'],
    ['dynamodb://th-sessions?region=', 'TH_SESSION_STORE: region must be an AWS region such as us-east-1, or several separated by commas'],
    ['dynamodb://th-sessions?region=US-EAST-1', 'TH_SESSION_STORE: region must be an AWS region such as us-east-1, or several separated by commas'],
    ['dynamodb://th-sessions?region=us-east-1,', 'TH_SESSION_STORE: region must be an AWS region such as us-east-1, or several separated by commas'],
    ['dynamodb://th-sessions?region=us-east-1,us-east-1', 'TH_SESSION_STORE names a region twice'],
  ])('refuses %j', (value, problem) => {
    expect(parseStoreSetting(value)).toEqual({ problems: [problem] });
  });

  it.each([
    ['memory', 'http://127.0.0.1:8000', 'TH_SESSION_STORE_ENDPOINT is only for a dynamodb:// TH_SESSION_STORE'],
    ['redis://cache', 'http://127.0.0.1:8000', 'TH_SESSION_STORE_ENDPOINT is only for a dynamodb:// TH_SESSION_STORE'],
    ['dynamodb://th-sessions?region=us-east-1', 'localhost:8000', 'TH_SESSION_STORE_ENDPOINT must be an https URL (http is allowed only for localhost/127.0.0.1)'],
    ['dynamodb://th-sessions?region=us-east-1', 'not a url', 'TH_SESSION_STORE_ENDPOINT must be an absolute URL'],
    ['dynamodb://th-sessions?region=us-east-1', 'http://dynamodb.example.com', 'TH_SESSION_STORE_ENDPOINT must be an https URL (http is allowed only for localhost/127.0.0.1)'],
    ['dynamodb://th-sessions?region=us-east-1', 'https://user:pw@dynamodb.example.com', 'TH_SESSION_STORE_ENDPOINT must be an origin only (scheme, host, port), without credentials, path or query'],
    ['dynamodb://th-sessions?region=us-east-1', 'https://dynamodb.example.com/path', 'TH_SESSION_STORE_ENDPOINT must be an origin only (scheme, host, port), without credentials, path or query'],
    ['dynamodb://th-sessions?region=us-east-1', 'https://dynamodb.example.com/?x=1', 'TH_SESSION_STORE_ENDPOINT must be an origin only (scheme, host, port), without credentials, path or query'],
  ])('refuses TH_SESSION_STORE=%j with TH_SESSION_STORE_ENDPOINT=%j', (value, endpoint, problem) => {
    expect(parseStoreSetting(value, endpoint)).toEqual({ problems: [problem] });
  });

  it('reports every problem of a URL at once, and never the password in it', () => {
    const secret = 'hunter2-secret';
    const parsed = parseStoreSetting(`redis://user:${secret}@cache/9?cluster=true&tls=1#frag`);
    expect(parsed.problems).toEqual([
      'TH_SESSION_STORE must not have a #fragment',
      'TH_SESSION_STORE has an unknown option "tls" (only cluster=true or cluster=false)',
      'TH_SESSION_STORE: a Redis cluster has only database 0',
    ]);
    expect(JSON.stringify(parsed)).not.toContain(secret);
  });
});

describe('selectSessionStore', () => {
  it('opens the memory store, and names the problems of a bad setting', async () => {
    const store = await selectSessionStore('memory', undefined);
    await store.put('k', 'v', 60);
    expect(await store.get('k')).toBe('v');
    await store.close();
    await expect(selectSessionStore('redis://:pw-in-url@cache/x', undefined)).rejects.toThrow(
      "Invalid session store settings:\n  - TH_SESSION_STORE's path must be empty or a database number, as in redis://host:6379/0",
    );
    await expect(selectSessionStore('redis://:pw-in-url@cache/x', undefined)).rejects.not.toThrow('pw-in-url');
  });

  it('refuses durable-object outside a Worker', async () => {
    await expect(selectSessionStore('durable-object', undefined)).rejects.toThrow(
      'TH_SESSION_STORE=durable-object needs the SESSION_STORE Durable Object binding (wrangler.toml), which only a Worker has',
    );
  });

  it('loads a store\'s client library only when that store is chosen', async () => {
    // A fresh Node process that records every module it loads (a resolve hook), then opens one store.
    const loaded = async (setting: string) => {
      const script = `
        import { register } from 'node:module';
        import { MessageChannel } from 'node:worker_threads';
        const { port1, port2 } = new MessageChannel();
        const urls = [];
        port1.on('message', (url) => urls.push(url));
        port1.unref();
        register('data:text/javascript,' + encodeURIComponent('let port; export function initialize(data) { port = data.port; } export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }'), { data: { port: port2 }, transferList: [port2] });
        const { selectSessionStore } = await import('./src/stores/select.ts');
        const store = await selectSessionStore(${JSON.stringify(setting)}, undefined, { awsCredentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
        await store.close();
        await new Promise((resolve) => setTimeout(resolve, 200));
        console.log(JSON.stringify(urls.filter((url) => url.includes('/node_modules/')).map((url) => url.split('/node_modules/').pop().split('/').slice(0, 2).join('/'))));
      `;
      const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 });
      return new Set(JSON.parse(stdout.trim().split('\n').pop()!) as string[]);
    };
    const memory = await loaded('memory');
    expect([...memory].filter((name) => name.startsWith('@redis/') || name.startsWith('@aws-sdk/'))).toEqual([]);
    expect(await loaded('redis://127.0.0.1:1')).toContain('@redis/client');
    const dynamo = await loaded('dynamodb://th-sessions?region=us-east-1');
    expect(dynamo).toContain('@aws-sdk/client-dynamodb');
    expect([...dynamo].filter((name) => name.startsWith('@redis/'))).toEqual([]);
  });
});
