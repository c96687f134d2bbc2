import type { Logger } from '../../src/ports/logger.js';

/** One captured log line. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string | undefined;
}

/** A Logger that keeps every line in memory (children share the same list). */
export class RecordingLogger implements Logger {
  readonly lines: LogLine[];
  readonly #bindings: Record<string, unknown>;

  constructor(lines: LogLine[] = [], bindings: Record<string, unknown> = {}) {
    this.lines = lines;
    this.#bindings = bindings;
  }

  debug(fields: Record<string, unknown>, message?: string): void {
    this.#push('debug', fields, message);
  }
  info(fields: Record<string, unknown>, message?: string): void {
    this.#push('info', fields, message);
  }
  warn(fields: Record<string, unknown>, message?: string): void {
    this.#push('warn', fields, message);
  }
  error(fields: Record<string, unknown>, message?: string): void {
    this.#push('error', fields, message);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.#bindings, ...bindings });
  }

  /** Every line as JSON text, for "never appears in a log" assertions. */
  text(): string {
    return this.lines.map((line) => JSON.stringify(line)).join('\n');
  }

  #push(level: LogLine['level'], fields: Record<string, unknown>, message: string | undefined): void {
    this.lines.push({ level, fields: { ...this.#bindings, ...fields }, message });
  }
}
