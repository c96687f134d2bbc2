/** How serious a threshold crossing is. */
export type AlertLevel = 'info' | 'warning' | 'critical';

/** One threshold of one user's cycle, crossed. Fired exactly once per user, cycle and threshold. */
export interface UsageAlert {
  /**
   * `<userId>|<cycleStartDate>|<threshold>|<claimedAt>`: the same for every delivery attempt of this
   * firing (receivers can dedupe retries on it), different for a later firing after a re-arm.
   */
  readonly id: string;
  readonly userId: string;
  readonly cycleStartDate: string;
  readonly level: AlertLevel;
  /** The crossed fraction of the limit, e.g. 0.8. */
  readonly threshold: number;
  readonly currentUsage: number;
  readonly limit: number;
  /** currentUsage / limit when the crossing was claimed. */
  readonly usageRatio: number;
  readonly remaining: number;
  /** When the crossing was claimed, epoch ms. */
  readonly at: number;
}

/** Where alerts go (a log, a webhook, an in-process callback). */
export interface AlertSink {
  /** Delivers one alert. May throw or reject: the monitor logs it and carries on. */
  deliver(alert: UsageAlert): Promise<void>;
}
