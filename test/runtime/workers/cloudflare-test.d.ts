// The few `cloudflare:test` exports these tests use, typed without @cloudflare/workers-types
// (the plugin's own declarations need that package, which the project does not install).
declare module 'cloudflare:test' {
  /** The Worker under test (wrangler.toml's `main`) with its bindings, reached like a service binding. */
  export const SELF: { fetch(input: string | Request | URL, init?: RequestInit): Promise<Response> };
  /** The Worker's bindings. */
  export const env: Readonly<Record<string, unknown>>;
}
