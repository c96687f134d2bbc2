import type { Clock } from '../ports/clock.js';

/** The real wall clock. */
export const systemClock: Clock = { now: () => Date.now() };
