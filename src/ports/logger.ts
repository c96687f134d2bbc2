/** One structured log method: an object of fields, then an optional message (pino's signature). */
export type LogMethod = (fields: Record<string, unknown>, message?: string) => void;

/** A structural subset of pino's logger, so a pino instance can be passed in as it is. */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}
