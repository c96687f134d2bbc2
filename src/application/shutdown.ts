import type { TokenUsageRepository } from './token-usage-repository.js';

/** Options of {@link installShutdownHooks}. */
export interface ShutdownHookOptions {
  /** Default: SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /** How long to wait for buffered records to flush before giving up. Default 10 s. */
  readonly timeoutMs?: number;
  /** Called after the flush, before the signal is re-raised (e.g. to log). */
  readonly onClosed?: (error: unknown) => void;
}

/**
 * Opt-in: on SIGTERM/SIGINT, flushes buffered records and closes the repository, then re-raises the
 * signal so the process ends as it would have (exit code and all). Returns a function that removes
 * the hooks. Without it, a signal ends the process with whatever is buffered unwritten.
 */
export function installShutdownHooks(repository: TokenUsageRepository, options: ShutdownHookOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const uninstall = (): void => {
    for (const signal of signals) process.removeListener(signal, handler);
  };
  let closing = false;
  async function handler(signal: NodeJS.Signals): Promise<void> {
    if (closing) return;
    closing = true;
    uninstall();
    let failure: unknown;
    try {
      await repository.close({ timeoutMs: options.timeoutMs ?? 10_000 });
    } catch (error) {
      failure = error;
    }
    options.onClosed?.(failure);
    process.kill(process.pid, signal);
  }
  for (const signal of signals) process.on(signal, handler);
  return uninstall;
}
