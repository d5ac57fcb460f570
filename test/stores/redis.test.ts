/**
 * The Redis store against Debian's redis-server on loopback: the contract (three store instances,
 * so three connections, share one server as three token handler instances would), what is
 * particular to Redis (one connection reused, the key prefix, a database number, passwords, TLS),
 * and failure: a server that is down, hung, down at start-up, or a connection that went silent
 * gives a clear error within the store's timeouts, and the store recovers by itself when the
 * server is back.
 * Redis Cluster: test/stores/redis-cluster.test.ts.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/ports.js';
import { CLIENT_NAME, RedisStore, type RedisStoreOptions } from '../../src/stores/redis.js';
import { describeStoreContract, eventually, uniqueKey } from './contract.js';
import { FaultyRelay } from './faulty-relay.js';
import { redisTarget, RedisServer } from './redis-server.js';
import { makeTlsFiles, type TlsFiles } from './tls-files.js';

const SHORT = { connectTimeoutMs: 300, commandTimeoutMs: 300 };
const opened: RedisStore[] = [];
function openStore(url: string, options: Omit<RedisStoreOptions, 'target'> = {}): RedisStore {
  const store = new RedisStore({ target: redisTarget(url), ...options });
  opened.push(store);
  return store;
}

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await server?.close();
});

let instances: RedisStore[] = [];
let next = 0;
describeStoreContract('redis', () => {
  if (instances.length === 0) instances = [0, 1, 2].map(() => openStore(server.url));
  return instances[next++ % instances.length]!;
});

describe('redis store', () => {
  const connections = async () => (await server.cli('CLIENT', 'LIST')).split('\n').filter((line) => line.includes(` name=${CLIENT_NAME} `)).length;

  it('sends every call of one store over one connection, named for CLIENT LIST', async () => {
    const before = await connections();
    const store = openStore(server.url);
    const key = uniqueKey('reuse');
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? store.put(`${key}-${i}`, 'v', 60) : store.get(`${key}-${i}`))));
    await store.compareAndSet(key, undefined, 'v', 60);
    await store.delete(key);
    expect(await connections()).toBe(before + 1);
    await store.close();
    expect(await eventually(async () => ((await connections()) === before ? 'closed' : Promise.reject(new Error('open'))))).toBe('closed');
  });

  it('prefixes its keys with th: and lets Redis expire them', async () => {
    const store = openStore(server.url);
    const key = uniqueKey('prefix');
    await store.put(key, 'value', 60);
    expect(await server.cli('GET', `th:${key}`)).toBe('value');
    expect(await server.cli('EXISTS', key)).toBe('0');
    const pttl = Number(await server.cli('PTTL', `th:${key}`));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
    await store.compareAndSet(key, 'value', 'next', 5);
    expect(Number(await server.cli('PTTL', `th:${key}`))).toBeLessThanOrEqual(5_000);
  });

  it('uses the database the URL names', async () => {
    const store = openStore(`${server.url}/3`);
    const key = uniqueKey('database');
    await store.put(key, 'in three', 60);
    expect(await server.cli('-n', '3', 'GET', `th:${key}`)).toBe('in three');
    expect(await server.cli('-n', '0', 'EXISTS', `th:${key}`)).toBe('0');
    expect(await openStore(server.url).get(key)).toBeUndefined();
  });

  it('reports a server that was stopped within its timeouts, and recovers when it is back', async () => {
    const own = await RedisServer.start();
    try {
      const store = openStore(own.url, SHORT);
      const key = uniqueKey('stopped');
      await store.put(key, 'before', 60);
      await own.stop();
      const failure = await store.get(key).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect((failure as Error).message).toMatch(/^Redis GET failed: /);
      await expect(store.compareAndSet(key, undefined, 'v', 60)).rejects.toThrow(StoreUnavailableError);
      await own.startAgain();
      // No persistence: the server comes back empty, and the same store works again.
      await eventually(() => store.put(key, 'after', 60));
      expect(await store.get(key)).toBe('after');
      expect(await store.compareAndSet(key, 'after', 'again', 60)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('gives up on a hung server after the command timeout, and carries on when it answers again', async () => {
    const own = await RedisServer.start();
    try {
      const store = openStore(own.url, SHORT);
      const key = uniqueKey('hung');
      await store.put(key, 'value', 60);
      own.pause();
      try {
        await expect(store.get(key)).rejects.toThrow(new StoreUnavailableError('Redis GET failed: no answer within 300 ms'));
        // Nothing answered: the store dropped that connection and is making a new one.
        await expect(store.compareAndSet(key, 'value', 'next', 60)).rejects.toThrow(/^Redis EVAL failed: not connected/);
      } finally {
        own.resume();
      }
      expect(await eventually(() => store.get(key))).toBeDefined();
      expect(await store.get(key)).toMatch(/^(value|next)$/);
    } finally {
      await own.close();
    }
  });

  it('drops a connection that went silent without closing, and goes on over a new one', async () => {
    const proxy = await FaultyRelay.start(server.port);
    try {
      const store = openStore(`redis://127.0.0.1:${proxy.port}`, SHORT);
      const key = uniqueKey('blackhole');
      await store.put(key, 'value', 60);
      expect(proxy.blackholeOpenConnections()).toBe(1);
      await expect(store.get(key)).rejects.toThrow('Redis GET failed: no answer within 300 ms');
      // The old connection never answers again; only a new one can.
      expect(await eventually(() => store.get(key))).toBe('value');
      expect(proxy.liveConnections).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it('starts while the server is down, reports it, and connects once it is up', async () => {
    const own = await RedisServer.start();
    try {
      await own.stop();
      const store = openStore(own.url, SHORT);
      const key = uniqueKey('late');
      const failure = await store.get(key).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect((failure as Error).message).toBe('Redis GET failed: not connected within 300 ms (Error ECONNREFUSED)');
      await own.startAgain();
      await eventually(() => store.put(key, 'value', 60));
      expect(await store.get(key)).toBe('value');
    } finally {
      await own.close();
    }
  });

  describe('with a password', () => {
    const password = `pw-${crypto.randomUUID()}`;
    let guarded: RedisServer;
    beforeAll(async () => {
      guarded = await RedisServer.start({ args: () => ['--requirepass', password], cliArgs: ['--no-auth-warning', '-a', password] });
    });
    afterAll(async () => {
      await guarded?.close();
    });

    it('authenticates with the password in the URL, percent-encoded characters included', async () => {
      const user = openStore(`redis://:${encodeURIComponent(password)}@127.0.0.1:${guarded.port}`);
      const key = uniqueKey('auth');
      await user.put(key, 'value', 60);
      expect(await guarded.cli('GET', `th:${key}`)).toBe('value');
      await guarded.cli('ACL', 'SETUSER', 'th-user', 'on', '>p@ss:w/rd', '~th:*', '+get', '+set', '+del', '+eval', '+client', '+ping', '+hello', '+auth');
      const named = openStore(`redis://th-user:${encodeURIComponent('p@ss:w/rd')}@127.0.0.1:${guarded.port}`);
      await named.put(key, 'from th-user', 60);
      expect(await named.get(key)).toBe('from th-user');
    });

    it('refuses a wrong or missing password with a clear error that does not repeat the password', async () => {
      const wrongPassword = 'not-the-password';
      const wrong = openStore(`redis://:${wrongPassword}@127.0.0.1:${guarded.port}`, SHORT);
      const failure = await wrong.get(uniqueKey('wrong')).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect((failure as Error).message).toBe('Redis GET failed: not connected within 300 ms (refused: WRONGPASS)');
      expect((failure as Error).message).not.toContain(wrongPassword);

      const none = openStore(`redis://127.0.0.1:${guarded.port}`, SHORT);
      await expect(none.put(uniqueKey('none'), 'v', 60)).rejects.toThrow('Redis SET failed: not connected within 300 ms (refused: NOAUTH)');
    });
  });

  describe('rediss:// (TLS)', () => {
    let tls: TlsFiles;
    let secure: RedisServer;
    beforeAll(async () => {
      tls = await makeTlsFiles();
      secure = await RedisServer.start({
        // TLS only: the plain port is off.
        args: (port) => ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.certFile, '--tls-auth-clients', 'no'],
        cliArgs: ['--tls', '--cacert', tls.certFile],
      });
    });
    afterAll(async () => {
      await secure?.close();
      if (tls) await rm(tls.dir, { recursive: true, force: true });
    });

    it('speaks TLS to a server whose certificate it trusts', async () => {
      const store = openStore(`rediss://127.0.0.1:${secure.port}`, { ca: tls.ca });
      const key = uniqueKey('tls');
      await store.put(key, 'over tls', 60);
      expect(await store.get(key)).toBe('over tls');
      expect(await secure.cli('GET', `th:${key}`)).toBe('over tls');
    });

    it('refuses a certificate it does not trust, and plaintext to a TLS port', async () => {
      const untrusted = openStore(`rediss://127.0.0.1:${secure.port}`, SHORT);
      await expect(untrusted.get(uniqueKey('untrusted'))).rejects.toThrow('Redis GET failed: not connected within 300 ms (Error DEPTH_ZERO_SELF_SIGNED_CERT)');
      const plain = openStore(`redis://127.0.0.1:${secure.port}`, SHORT);
      await expect(plain.get(uniqueKey('plain'))).rejects.toThrow(StoreUnavailableError);
    });
  });

  it('refuses calls once closed', async () => {
    const store = openStore(server.url);
    await store.put(uniqueKey('closing'), 'v', 60);
    await store.close();
    await expect(store.get(uniqueKey('closed'))).rejects.toThrow('The Redis session store is closed');
  });
});
