import { defineConfig } from 'vitest/config';

// `npm run test:e2e`: the browser tests (test/e2e/*.e2e.ts) in Debian's Chromium. Kept apart from
// `npm test` (which only picks up *.test.ts) because they need /usr/bin/chromium and take longer.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    // One target at a time: each file drives a Chromium and a whole stack, and CI has 2 cores.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 120_000,
  },
});
