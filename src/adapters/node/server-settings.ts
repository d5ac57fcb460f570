/**
 * The Node server's own settings, beside the `TH_*` ones: where it listens and how long a shutdown
 * may take. Read by the process entry (main.ts) and by `edge-token-handler check-config`.
 */
export interface ServerSettings {
  readonly port: number;
  readonly host: string;
  /** How long SIGTERM waits for requests in flight before it closes what is left. */
  readonly shutdownGraceMs: number;
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '0.0.0.0';
/** Seconds; Kubernetes' default terminationGracePeriodSeconds (30) leaves room for it. */
export const DEFAULT_SHUTDOWN_GRACE = 20;
const MAX_SHUTDOWN_GRACE = 3600;

/** Every problem at once, like parseConfig; the values here are not secret, so problems may quote them. */
export function readServerSettings(env: Readonly<Record<string, string | undefined>>): { settings: ServerSettings; problems: string[] } {
  const problems: string[] = [];
  const whole = (name: string, fallback: number, max: number, what: string): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    if (!/^\d{1,7}$/.test(raw) || Number(raw) > max) {
      problems.push(`${name} must be ${what} (0 to ${max}), got "${raw.slice(0, 20)}"`);
      return fallback;
    }
    return Number(raw);
  };
  const port = whole('PORT', DEFAULT_PORT, 65535, 'a port number');
  const shutdownGrace = whole('SHUTDOWN_GRACE', DEFAULT_SHUTDOWN_GRACE, MAX_SHUTDOWN_GRACE, 'a whole number of seconds');
  const host = env['HOST']?.trim() || DEFAULT_HOST;
  return { settings: { port, host, shutdownGraceMs: shutdownGrace * 1000 }, problems };
}
