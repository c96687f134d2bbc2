import { EventEmitter } from 'node:events';
import type { AlertSink, UsageAlert } from '../../ports/alert-sink.js';

/** A function that receives alerts; a returned promise is awaited. */
export type AlertCallback = (alert: UsageAlert) => void | Promise<void>;

/**
 * Hands each alert to a function and waits for it. A throw or rejection propagates to the caller (the
 * monitor logs it), so the callback decides what a failure means.
 *
 * @example
 * new CallbackAlertSink(async (alert) => { await notifyBilling(alert.userId, alert.level); });
 */
export class CallbackAlertSink implements AlertSink {
  readonly #callback: AlertCallback;

  constructor(callback: AlertCallback) {
    if (typeof callback !== 'function') throw new TypeError('CallbackAlertSink needs a function');
    this.#callback = callback;
  }

  async deliver(alert: UsageAlert): Promise<void> {
    await this.#callback(alert);
  }
}

/** The events of {@link EmitterAlertSink.events}, each with the alert as its one argument. */
export interface AlertEvents {
  /** Every alert. */
  alert: [alert: UsageAlert];
  'alert:info': [alert: UsageAlert];
  'alert:warning': [alert: UsageAlert];
  'alert:critical': [alert: UsageAlert];
}

/**
 * Publishes alerts in-process on a typed `node:events` emitter it owns, `sink.events`: each alert is
 * emitted as `'alert'`, then as `'alert:<level>'` (`'alert:info'`, `'alert:warning'`, `'alert:critical'`).
 * Subscribe with `sink.events.on('alert:critical', (alert) => …)`.
 *
 * Listeners run synchronously inside `deliver`, as with any EventEmitter: a listener that throws
 * stops the remaining listeners and makes `deliver` reject (the monitor logs it). Async listeners are
 * not awaited (their rejections are the listener's to handle); use {@link CallbackAlertSink} to wait.
 * The sink never emits `'error'`, so no `'error'` listener is needed.
 */
export class EmitterAlertSink implements AlertSink {
  /** Subscribe here. */
  readonly events: EventEmitter<AlertEvents> = new EventEmitter<AlertEvents>();

  async deliver(alert: UsageAlert): Promise<void> {
    this.events.emit('alert', alert);
    this.events.emit(`alert:${alert.level}`, alert);
  }
}
