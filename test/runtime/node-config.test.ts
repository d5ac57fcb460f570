/**
 * `npm run serve` with a misspelt setting does not start: it exits 1 and names the closest known
 * setting. The server runs as a child process with a minimal environment, exactly as the script
 * runs it (`tsx src/adapters/node/main.ts`).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { randomSecret } from '../helpers/config.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs the server; if it ever says it is listening, it is stopped (and the exit code shows it started). */
function serve(settings: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? ROOT, HOST: '127.0.0.1', PORT: '0', ...settings };
  const child = spawn('npx', ['tsx', 'src/adapters/node/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('"listening"')) child.kill('SIGKILL');
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const clientSecret = randomSecret();
const valid = {
  TH_PUBLIC_ORIGIN: 'https://www.example.test',
  TH_ISSUER: 'https://idp.example.test',
  TH_CLIENT_ID: 'spa',
  TH_CLIENT_SECRET: clientSecret,
  TH_COOKIE_KEYS: `k1:${randomSecret()}`,
  TH_API_ROUTES: '/api=https://api.example.test',
};

describe('npm run serve with a misspelt setting', () => {
  it.each([
    ['TH_ISUER', 'TH_ISSUER'],
    ['TH_API_ROUTE', 'TH_API_ROUTES'],
    ['TH_COOKIE_KEY', 'TH_COOKIE_KEYS'],
  ])('stops on %s, suggesting %s', async (typo, meant) => {
    const settings: Record<string, string> = { ...valid, [typo]: valid[meant as keyof typeof valid] };
    // The misspelt name replaces the right one, except TH_API_ROUTE: it sits beside a valid config, which would otherwise start.
    if (typo !== 'TH_API_ROUTE') delete settings[meant];
    const { code, stdout, stderr } = await serve(settings);
    expect(stdout).not.toContain('listening');
    expect(code).toBe(1);
    expect(stderr).toContain(`${typo} is not a setting: did you mean ${meant}?`);
    expect(stderr).not.toContain(clientSecret);
    expect(stderr).not.toContain(valid.TH_COOKIE_KEYS.slice(3));
    expect(stderr).not.toMatch(/at .*\.(ts|js):\d+/);
  });
});
