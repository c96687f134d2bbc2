import type { AlertLevel, AlertSink, UsageAlert } from '../../ports/alert-sink.js';
import type { Logger } from '../../ports/logger.js';

const LOG_METHOD = { info: 'info', warning: 'warn', critical: 'error' } as const satisfies Record<
  AlertLevel,
  keyof Logger
>;

/**
 * Writes each alert as one structured log line: `info` alerts at `info`, `warning` at `warn`,
 * `critical` at `error`. Takes the `Logger` port, so a host's pino logger is passed in as it is.
 *
 * Fields: `event: 'token_usage.threshold_crossed'`, `alertId`, `alertLevel`, `userId`, `cycleStartDate`,
 * `threshold`, `currentUsage`, `limit`, `usageRatio`, `remaining`, `at`. The alert's `id` and `level`
 * are renamed because pino writes its own numeric `level` into every line.
 *
 * `deliver` never rejects: a logger that throws is ignored (there is nowhere left to report it).
 */
export class LogAlertSink implements AlertSink {
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  async deliver(alert: UsageAlert): Promise<void> {
    try {
      const method = LOG_METHOD[alert.level] ?? 'warn';
      this.#logger[method](
        {
          event: 'token_usage.threshold_crossed',
          alertId: alert.id,
          alertLevel: alert.level,
          userId: alert.userId,
          cycleStartDate: alert.cycleStartDate,
          threshold: alert.threshold,
          currentUsage: alert.currentUsage,
          limit: alert.limit,
          usageRatio: alert.usageRatio,
          remaining: alert.remaining,
          at: alert.at,
        },
        `token usage crossed ${formatPercent(alert.threshold)} of the limit (${alert.currentUsage} of ${alert.limit} tokens)`,
      );
    } catch {
      // A broken logger must not break the monitor that called us.
    }
  }
}

function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 10_000) / 100}%`;
}
