// The browser scenarios against the token handler in workerd (`wrangler dev`, as `npm run
// start:worker` runs it): the SPA's origin forwards the token handler's paths to the Worker.
import { describe, expect, it } from 'vitest';
import { defineScenarios } from './scenarios.js';
import { workerdTarget } from './workerd-target.js';

defineScenarios(workerdTarget);

describe('the workerd target', () => {
  it('answered the token handler’s requests from the Worker, not from Node', () => {
    // Each scenario above makes at least five agent and API calls (session, login/start, login/end, …).
    expect(workerdTarget.forwarded()).toBeGreaterThanOrEqual(40);
  });
});
