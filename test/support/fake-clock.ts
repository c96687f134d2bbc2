import type { Clock } from '../../src/ports/clock.js';

/** A hand-moved clock for cycle, retention and lease tests. */
export class FakeClock implements Clock {
  #now: number;

  constructor(start: number | string = '2024-01-15T12:00:00Z') {
    this.#now = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.#now;
  }

  set(at: number | string): void {
    this.#now = typeof at === 'number' ? at : Date.parse(at);
  }

  advance(ms: number): void {
    this.#now += ms;
  }
}
