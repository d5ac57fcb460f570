/**
 * A throw-away certificate authority for the rediss:// tests: a self-signed P-256 certificate for
 * 127.0.0.1 made with openssl (Debian's; .ci/run installs it with redis-server), valid two days.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsFiles {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate (PEM), which is also its own CA. */
  readonly ca: string;
}

export async function makeTlsFiles(): Promise<TlsFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'th-redis-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { timeout: 30_000 });
  return { dir, certFile, keyFile, ca: await readFile(certFile, 'utf8') };
}
