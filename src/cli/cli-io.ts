import type { Writable } from 'node:stream';
import type { TokenUsageRepository } from '../application/token-usage-repository.js';

/** Where the CLI reads its environment and writes its output; a test passes its own. */
export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** What every command gets: output helpers and the repository, built on first use. */
export interface CommandContext {
  readonly io: CliIo;
  readonly json: boolean;
  /** Builds (once) the repository from the environment; `forceAlerts` turns alert checks on (sweeps). */
  repo(options?: { readonly forceAlerts?: boolean }): TokenUsageRepository;
  /** Writes one line to stdout. */
  line(text: string): void;
  /** Writes a value as pretty JSON to stdout. */
  printJson(value: unknown): void;
  /** Writes to stdout, waiting when the stream is full (exports). */
  write(chunk: string): Promise<void>;
}

/** Writes `chunk`, resolving once the stream has room again. */
export function writeWithBackpressure(stream: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = stream.write(chunk, (error) => {
      if (error) reject(error);
    });
    if (ok) resolve();
    else stream.once('drain', () => resolve());
  });
}
