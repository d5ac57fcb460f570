// The browser scenarios against the token handler on Node (examples/start.ts, as `npm start` runs it).
import { defineScenarios } from './scenarios.js';
import { nodeTarget } from './stack.js';

defineScenarios(nodeTarget);
