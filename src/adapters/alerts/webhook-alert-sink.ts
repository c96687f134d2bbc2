import { createHmac } from 'node:crypto';
import { ConfigError } from '../../domain/errors.js';
import type { AlertSink, UsageAlert } from '../../ports/alert-sink.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../system-clock.js';

/** The `type` field of every webhook body. */
export const WEBHOOK_EVENT_TYPE = 'token_usage.threshold_crossed';

/** The subset of `fetch` the sink uses; `globalThis.fetch` fits. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Options of {@link WebhookAlertSink}. Times are milliseconds, all positive integers. */
export interface WebhookAlertSinkOptions {
  /** Where alerts are POSTed: an `http:` or `https:` URL. Never included in errors beyond its origin. */
  readonly url: string;
  /** Timeout of each attempt, from sending to the response headers. Default 5000. */
  readonly timeoutMs?: number;
  /** Attempts in total, the first included. Default 4. */
  readonly maxAttempts?: number;
  /** Backoff base: the delay before retry n is random in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))). Default 200. */
  readonly baseDelayMs?: number;
  /** Longest delay between attempts, also the cap on a `Retry-After`. Default 5000. */
  readonly maxDelayMs?: number;
  /** When set, every request is signed with HMAC-SHA256 (see the class documentation). Never logged. */
  readonly secret?: string;
  /** Extra headers (e.g. `authorization`); may not set `content-type` or any `x-token-usage-*` header. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Injectable for tests; default `globalThis.fetch`. */
  readonly fetch?: FetchLike;
  /** Waits between attempts; injectable for tests. Default a `setTimeout` promise. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Source of jitter in [0, 1); injectable for tests. Default `Math.random`. */
  readonly random?: () => number;
  /** Source of the signature timestamp. Default the system clock. */
  readonly clock?: Clock;
}

/** Thrown by {@link WebhookAlertSink.deliver} when the alert was not accepted. Never carries the secret. */
export class WebhookDeliveryError extends Error {
  /** Attempts made. */
  readonly attempts: number;
  /** HTTP status of the last response, or `null` when the last attempt got none (network error, timeout). */
  readonly status: number | null;

  constructor(message: string, attempts: number, status: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebhookDeliveryError';
    this.attempts = attempts;
    this.status = status;
  }
}

const MAX_MS = 2_147_483_647; // setTimeout's limit
const RESERVED_HEADER = /^(content-type|x-token-usage-.*)$/i;

/** One attempt's result: delivered, or failed with whether a retry may help and how long to wait. */
type AttemptResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly retry: boolean;
      readonly reason: string;
      readonly status: number | null;
      readonly retryAfterMs: number | null;
      readonly cause?: unknown;
    };

/**
 * POSTs each alert as JSON to a URL, with retries.
 *
 * Body: the alert's fields plus `"type": "token_usage.threshold_crossed"`. Headers:
 * `content-type: application/json`; `x-token-usage-alert-id` (the alert id, for deduplication;
 * `%` and characters outside printable ASCII are percent-encoded, so `decodeURIComponent` of the
 * header always gives the id in the body); and, with a `secret`, `x-token-usage-timestamp` (unix
 * seconds) and `x-token-usage-signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
 *
 * A receiver verifies a request by recomputing the HMAC over the timestamp header, a `.` and the raw
 * request body (the bytes received, not re-serialised JSON), comparing with `crypto.timingSafeEqual`
 * (equal lengths first), and rejecting timestamps more than a few minutes from its clock (replays).
 * Each attempt is signed afresh, so a retry carries a current timestamp. See docs/alerts.md.
 *
 * Retries: network errors, timeouts (each attempt has its own `timeoutMs`), 429 and 5xx are retried up
 * to `maxAttempts` in total, with exponential backoff and full jitter, or after the response's
 * `Retry-After` (seconds or an HTTP date), capped at `maxDelayMs`. Other statuses (4xx, and 3xx:
 * redirects are not followed) fail at once. Failure is a {@link WebhookDeliveryError}; receivers
 * should dedupe on the alert id, since a timed-out attempt may still have been processed.
 */
export class WebhookAlertSink implements AlertSink {
  readonly #url: string;
  readonly #origin: string;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #secret: string | undefined;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #fetch: FetchLike;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #clock: Clock;

  /** Validates the options; throws `ConfigError` naming the field (`webhook.url`, `webhook.timeoutMs`, …). */
  constructor(options: WebhookAlertSinkOptions) {
    const url = parseUrl(options.url);
    this.#url = url.href;
    this.#origin = `${url.protocol}//${url.host}`;
    this.#timeoutMs = positiveInteger(options.timeoutMs ?? 5_000, 'webhook.timeoutMs', MAX_MS);
    this.#maxAttempts = positiveInteger(options.maxAttempts ?? 4, 'webhook.maxAttempts', 100);
    this.#baseDelayMs = positiveInteger(options.baseDelayMs ?? 200, 'webhook.baseDelayMs', MAX_MS);
    this.#maxDelayMs = positiveInteger(options.maxDelayMs ?? 5_000, 'webhook.maxDelayMs', MAX_MS);
    if (this.#maxDelayMs < this.#baseDelayMs) {
      throw new ConfigError('webhook.maxDelayMs', 'must be at least webhook.baseDelayMs');
    }
    if (options.secret !== undefined && (typeof options.secret !== 'string' || options.secret === '')) {
      throw new ConfigError('webhook.secret', 'must be a non-empty string'); // never echo the value
    }
    this.#secret = options.secret;
    this.#headers = validHeaders(options.headers ?? {});
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? systemClock;
  }

  /** POSTs the alert, retrying as described above; rejects with `WebhookDeliveryError` when it gives up. */
  async deliver(alert: UsageAlert): Promise<void> {
    const body = JSON.stringify(webhookBody(alert));
    const alertIdHeader = encodeHeaderValue(alert.id);
    for (let attempt = 1; ; attempt += 1) {
      const result = await this.#attempt(body, alertIdHeader);
      if (result.ok) return;
      if (!result.retry || attempt >= this.#maxAttempts) {
        const gaveUp = result.retry ? `gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}` : 'not retried';
        throw new WebhookDeliveryError(
          `webhook alert delivery to ${this.#origin} failed (${gaveUp}): ${result.reason}`,
          attempt,
          result.status,
          result.cause === undefined ? undefined : { cause: result.cause },
        );
      }
      await this.#sleep(this.#delayBefore(attempt + 1, result.retryAfterMs));
    }
  }

  async #attempt(body: string, alertIdHeader: string): Promise<AttemptResult> {
    const headers: Record<string, string> = {
      ...this.#headers,
      'content-type': 'application/json',
      'x-token-usage-alert-id': alertIdHeader,
    };
    if (this.#secret !== undefined) {
      const timestamp = String(Math.floor(this.#clock.now() / 1_000));
      headers['x-token-usage-timestamp'] = timestamp;
      const hmac = createHmac('sha256', this.#secret).update(`${timestamp}.${body}`);
      headers['x-token-usage-signature'] = `sha256=${hmac.digest('hex')}`;
    }
    let response: Response;
    try {
      response = await this.#fetch(this.#url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      const reason = timedOut ? `no response within ${this.#timeoutMs} ms` : `network error (${describe(error)})`;
      return { ok: false, retry: true, reason, status: null, retryAfterMs: null, cause: error };
    }
    // Free the connection; the receiver's body is not needed.
    await response.body?.cancel().catch(() => undefined);
    const { status } = response;
    if (status >= 200 && status < 300) return { ok: true };
    const retry = status === 429 || status >= 500;
    const reason = status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
    return { ok: false, retry, reason, status, retryAfterMs: retry ? this.#retryAfterMs(response) : null };
  }

  /** Delay before attempt `next` (2, 3, …): the server's Retry-After, else full jitter, capped. */
  #delayBefore(next: number, retryAfterMs: number | null): number {
    if (retryAfterMs !== null) return Math.min(retryAfterMs, this.#maxDelayMs);
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (next - 2));
    return Math.floor(this.#random() * ceiling);
  }

  #retryAfterMs(response: Response): number | null {
    const value = response.headers.get('retry-after')?.trim();
    if (value === undefined || value === '') return null;
    if (/^\d+$/.test(value)) return Number(value) * 1_000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? null : Math.max(0, date - this.#clock.now());
  }
}

/** The JSON body: the alert's known fields (nothing else a caller's object may carry) plus `type`. */
function webhookBody(alert: UsageAlert): Record<string, unknown> {
  return {
    type: WEBHOOK_EVENT_TYPE,
    id: alert.id,
    userId: alert.userId,
    cycleStartDate: alert.cycleStartDate,
    level: alert.level,
    threshold: alert.threshold,
    currentUsage: alert.currentUsage,
    limit: alert.limit,
    usageRatio: alert.usageRatio,
    remaining: alert.remaining,
    at: alert.at,
  };
}

/** Percent-encodes `%` and everything outside printable ASCII (header values must be bytes). */
function encodeHeaderValue(value: string): string {
  return value.replace(/[^\x20-\x24\x26-\x7e]+/gu, (run) =>
    [...Buffer.from(run, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

function parseUrl(value: unknown): URL {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError('webhook.url', 'must be a non-empty URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('webhook.url', 'is not a valid URL'); // the URL may hold a token: not echoed
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError('webhook.url', `must use http: or https:, not ${url.protocol}`);
  }
  return url;
}

function positiveInteger(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(field, `must be a whole number from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

function validHeaders(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (typeof headers !== 'object' || headers === null) throw new ConfigError('webhook.headers', 'must be an object');
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (RESERVED_HEADER.test(name)) {
      throw new ConfigError('webhook.headers', `may not set ${name.toLowerCase()}: the sink sets it`);
    }
    try {
      new Headers([[name, value]]);
    } catch {
      // The value may be a credential: name the header only.
      throw new ConfigError('webhook.headers', `${JSON.stringify(name)} is not a valid header name, or its value is invalid`);
    }
    copy[name] = value;
  }
  return Object.freeze(copy);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
  return code === undefined ? error.message : `${error.message}: ${code}`;
}

function defaultSleep(ms: number): Promise<void> {
  // Not unref'd on purpose: a pending retry is an alert still to deliver, worth keeping the process for.
  return new Promise((resolve) => setTimeout(resolve, ms));
}
