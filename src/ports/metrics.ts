import type { AlertLevel } from './alert-sink.js';

/** Operations that are counted and timed; a small fixed set (no user ids, ever). */
export type OperationName =
  | 'record'
  | 'read'
  | 'reset'
  | 'set-limit'
  | 'check-limit'
  | 'reserve'
  | 'commit'
  | 'release'
  | 'can-consume'
  | 'guard'
  | 'flush'
  | 'health';

/** How an operation ended. */
export type OperationOutcome = 'ok' | 'duplicate' | 'denied' | 'invalid' | 'error';

/** Which counter tokens went to. */
export type TokenType = 'prompt' | 'completion' | 'other';

/** What kind of store failure happened. */
export type StoreErrorKind = 'unavailable' | 'corrupt' | 'other';

/** What the package measures. Every label comes from a small fixed set. */
export interface Metrics {
  /** Tokens recorded (duplicates excluded), by type. */
  tokensRecorded(type: TokenType, count: number): void;
  /** One finished operation, its outcome and duration. */
  operation(name: OperationName, outcome: OperationOutcome, durationSeconds: number): void;
  /** One store failure. */
  storeError(kind: StoreErrorKind): void;
  /** One alert claimed for delivery. */
  alertFired(level: AlertLevel): void;
  /** How many records wait in a buffer right now. */
  bufferedRecords(count: number): void;
  /** The Prometheus text exposition of everything measured ('' when the adapter keeps nothing). */
  exposition(): Promise<string>;
}
