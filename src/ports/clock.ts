/** The source of the current time, so cycles, leases and windows can be tested with a fake. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}
