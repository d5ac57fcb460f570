import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

const WORKERD_TESTS = 'test/runtime/workers/**/*.test.ts';
// The integration suites that also run inside workerd, against the Worker instead of the Node app.
// The rest stay in Node: test/examples and test/runtime/*.test.ts start Node servers or child
// processes; test/app/proxy.test.ts drives the Node adapter over node:http (absolute-form targets,
// streaming through @hono/node-server); test/core and test/config are plain functions whose
// runtime-specific parts (Web Crypto, fetch, Headers) the shared suites exercise in workerd anyway.
const SHARED_SUITES = ['test/app/flow.test.ts', 'test/app/audit.test.ts', 'test/app/agent-checks.test.ts', 'test/app/session-binding.test.ts', 'test/app/userinfo.test.ts', 'test/app/login-parameters.test.ts', 'test/app/dpop.test.ts', 'test/app/phantom-token.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: [WORKERD_TESTS],
        },
      },
      {
        extends: true,
        plugins: [
          // The Worker as wrangler.toml describes it, with the settings of the stack that the global
          // setup started in Node as its bindings (the secrets a deployment would `wrangler secret put`).
          cloudflareTest(({ inject }) => {
            const { bound, compressingUpstream } = inject('workers');
            return {
              wrangler: { configPath: './wrangler.toml' },
              // workerd's --verbose logs every internal exception as if uncaught, so the connection
              // refusals that the unreachable-provider and unreachable-API tests cause on purpose
              // printed "Network connection lost" blocks into passing runs. Set true to debug workerd.
              verbose: false,
              miniflare: {
                bindings: {
                  ...bound.env,
                  TH_API_ROUTES: `${bound.env['TH_API_ROUTES']},/compressed=${compressingUpstream}`,
                  // The deployed entry logs to the console; keep test output to what went wrong.
                  TH_LOG_LEVEL: 'warn',
                },
              },
            };
          }),
        ],
        resolve: {
          // The shared suites import `../helpers/stack.js`; in workerd that is the Worker's stack.
          alias: [{ find: /^\.\.\/helpers\/stack\.js$/, replacement: fileURLToPath(new URL('./test/runtime/workers/worker-stack.ts', import.meta.url)) }],
        },
        test: {
          name: 'workerd',
          include: [WORKERD_TESTS, ...SHARED_SUITES],
          globalSetup: ['test/runtime/workers/global-setup.ts'],
        },
      },
    ],
  },
});
