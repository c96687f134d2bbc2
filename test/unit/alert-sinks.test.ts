import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CallbackAlertSink, EmitterAlertSink } from '../../src/adapters/alerts/callback-alert-sink.js';
import { LogAlertSink } from '../../src/adapters/alerts/log-alert-sink.js';
import { WebhookAlertSink, WebhookDeliveryError } from '../../src/adapters/alerts/webhook-alert-sink.js';
import type { FetchLike, WebhookAlertSinkOptions } from '../../src/adapters/alerts/webhook-alert-sink.js';
import { ConfigError } from '../../src/domain/errors.js';
import type { UsageAlert } from '../../src/ports/alert-sink.js';
import type { Logger } from '../../src/ports/logger.js';
import { RecordingLogger } from '../support/recording-logger.js';

const SECRET = 'whsec-Sup3r-S3cret-value';
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);

function anAlert(overrides: Partial<UsageAlert> = {}): UsageAlert {
  return {
    id: 'user_123|2024-01-01|0.8',
    userId: 'user_123',
    cycleStartDate: '2024-01-01',
    level: 'warning',
    threshold: 0.8,
    currentUsage: 8_200,
    limit: 10_000,
    usageRatio: 0.82,
    remaining: 1_800,
    at: NOW,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------------
// A real HTTP server on 127.0.0.1, answering each request with the next scripted reply.

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
type Reply = ((res: ServerResponse) => void) | 'hang';

const status =
  (code: number, headers: Record<string, string> = {}): Reply =>
  (res) => {
    res.writeHead(code, headers).end('{"received":true}');
  };

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** Starts a receiver; replies beyond the script answer 200. */
async function receiver(replies: Reply[] = []): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const reply = replies[received.length - 1] ?? status(200);
      if (reply !== 'hang') reply(res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/usage?token=abc`, received };
}

/** A loopback port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A sink with instant, recorded sleeps and a fixed clock; `calls` counts fetch calls. */
function sinkFor(url: string, options: Partial<WebhookAlertSinkOptions> = {}) {
  const delays: number[] = [];
  const calls = { count: 0 };
  const fetch: FetchLike = (input, init) => {
    calls.count += 1;
    return globalThis.fetch(input, init);
  };
  const sink = new WebhookAlertSink({
    url,
    fetch,
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
    clock: { now: () => NOW },
    ...options,
  });
  return { sink, delays, calls };
}

/** What a receiver does (the snippet in docs/alerts.md). */
function verifySignature(secret: string, timestamp: string, rawBody: string, signatureHeader: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`);
  const given = Buffer.from(signatureHeader);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

// ---------------------------------------------------------------------------------------------------

describe('LogAlertSink', () => {
  it.each([
    ['info', 'info'],
    ['warning', 'warn'],
    ['critical', 'error'],
  ] as const)('logs a %s alert at %s, with the alert fields and a message', async (level, logLevel) => {
    const logger = new RecordingLogger();
    await new LogAlertSink(logger).deliver(anAlert({ level }));
    expect(logger.lines).toHaveLength(1);
    const [line] = logger.lines;
    expect(line?.level).toBe(logLevel);
    expect(line?.fields).toEqual({
      event: 'token_usage.threshold_crossed',
      alertId: 'user_123|2024-01-01|0.8',
      alertLevel: level,
      userId: 'user_123',
      cycleStartDate: '2024-01-01',
      threshold: 0.8,
      currentUsage: 8_200,
      limit: 10_000,
      usageRatio: 0.82,
      remaining: 1_800,
      at: NOW,
    });
    expect(line?.message).toBe('token usage crossed 80% of the limit (8200 of 10000 tokens)');
  });

  it('never throws, even when the logger does', async () => {
    const broken = () => {
      throw new Error('disk full');
    };
    const logger: Logger = { debug: broken, info: broken, warn: broken, error: broken, child: () => logger };
    await expect(new LogAlertSink(logger).deliver(anAlert({ level: 'critical' }))).resolves.toBeUndefined();
  });
});

describe('CallbackAlertSink', () => {
  it('hands the alert to the callback and waits for its promise', async () => {
    const seen: UsageAlert[] = [];
    const sink = new CallbackAlertSink(async (alert) => {
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(alert);
    });
    const alert = anAlert();
    await sink.deliver(alert);
    expect(seen).toEqual([alert]);
  });

  it('propagates a throw or a rejection to the caller', async () => {
    const throwing = new CallbackAlertSink(() => {
      throw new Error('sync boom');
    });
    const rejecting = new CallbackAlertSink(async () => Promise.reject(new Error('async boom')));
    await expect(throwing.deliver(anAlert())).rejects.toThrow('sync boom');
    await expect(rejecting.deliver(anAlert())).rejects.toThrow('async boom');
  });
});

describe('EmitterAlertSink', () => {
  it("emits 'alert' and then 'alert:<level>' on its own emitter", async () => {
    const sink = new EmitterAlertSink();
    const events: string[] = [];
    sink.events.on('alert', (alert) => events.push(`alert ${alert.level}`));
    sink.events.on('alert:critical', (alert) => events.push(`critical ${alert.id}`));
    sink.events.on('alert:warning', () => events.push('warning'));
    await sink.deliver(anAlert({ level: 'critical', id: 'u|2024-01-01|1' }));
    expect(events).toEqual(['alert critical', 'critical u|2024-01-01|1']);
    expect(new EmitterAlertSink().events).not.toBe(sink.events);
  });

  it('resolves with no listeners, and rejects when a listener throws', async () => {
    const sink = new EmitterAlertSink();
    await expect(sink.deliver(anAlert())).resolves.toBeUndefined();
    sink.events.on('alert', () => {
      throw new Error('listener failed');
    });
    await expect(sink.deliver(anAlert())).rejects.toThrow('listener failed');
  });
});

describe('WebhookAlertSink', () => {
  it('POSTs the alert as signed JSON, delivered on the first attempt', async () => {
    const server = await receiver();
    const { sink, calls, delays } = sinkFor(server.url, { secret: SECRET, headers: { authorization: 'Bearer t0k' } });
    const alert = anAlert();
    await sink.deliver(alert);

    expect(calls.count).toBe(1);
    expect(delays).toEqual([]);
    expect(server.received).toHaveLength(1);
    const request = server.received[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/hooks/usage?token=abc');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['authorization']).toBe('Bearer t0k');
    expect(request.headers['x-token-usage-alert-id']).toBe(alert.id);
    expect(JSON.parse(request.body)).toEqual({ ...alert, type: 'token_usage.threshold_crossed' });

    const timestamp = request.headers['x-token-usage-timestamp'] as string;
    const signature = request.headers['x-token-usage-signature'] as string;
    expect(timestamp).toBe(String(NOW / 1_000));
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, timestamp, request.body, signature)).toBe(true);
    expect(verifySignature('another-secret', timestamp, request.body, signature)).toBe(false);
    expect(verifySignature(SECRET, String(NOW / 1_000 + 1), request.body, signature)).toBe(false);
    expect(verifySignature(SECRET, timestamp, request.body.replace('8200', '9200'), signature)).toBe(false);
  });

  it('sends no signature headers without a secret', async () => {
    const server = await receiver();
    await sinkFor(server.url).sink.deliver(anAlert());
    const headers = server.received[0]!.headers;
    expect(headers['x-token-usage-signature']).toBeUndefined();
    expect(headers['x-token-usage-timestamp']).toBeUndefined();
    expect(headers['x-token-usage-alert-id']).toBe('user_123|2024-01-01|0.8');
  });

  it('percent-encodes % and non-ASCII in the alert-id header, so decodeURIComponent gives the id back', async () => {
    const server = await receiver();
    const id = '用户%42|2024-01-01|0.5';
    await sinkFor(server.url).sink.deliver(anAlert({ id, userId: '用户%42' }));
    const header = server.received[0]!.headers['x-token-usage-alert-id'] as string;
    expect(header).toMatch(/^[\x20-\x7e]+$/);
    expect(header.endsWith('%2542|2024-01-01|0.5')).toBe(true);
    expect(decodeURIComponent(header)).toBe(id);
    expect(JSON.parse(server.received[0]!.body).id).toBe(id);
  });

  it('retries 503s with jittered exponential backoff, then succeeds (3 attempts)', async () => {
    const server = await receiver([status(503), status(503), status(200)]);
    const { sink, calls, delays } = sinkFor(server.url, { secret: SECRET });
    await sink.deliver(anAlert());
    expect(calls.count).toBe(3);
    expect(server.received).toHaveLength(3);
    expect(delays).toEqual([100, 200]); // random 0.5 × min(5000, 200 × 2^(n-1))
    // Every attempt carries the same body and id, each freshly signed.
    expect(new Set(server.received.map((r) => r.body)).size).toBe(1);
    for (const r of server.received) {
      expect(r.headers['x-token-usage-alert-id']).toBe('user_123|2024-01-01|0.8');
      const ts = r.headers['x-token-usage-timestamp'] as string;
      expect(verifySignature(SECRET, ts, r.body, r.headers['x-token-usage-signature'] as string)).toBe(true);
    }
  });

  it('honours Retry-After (seconds) on a 429, capped at maxDelayMs', async () => {
    const server = await receiver([status(429, { 'retry-after': '2' }), status(429, { 'retry-after': '120' }), status(204)]);
    const { sink, calls, delays } = sinkFor(server.url, { maxDelayMs: 3_000 });
    await sink.deliver(anAlert());
    expect(calls.count).toBe(3);
    expect(delays).toEqual([2_000, 3_000]);
  });

  it('does not retry another 4xx: one attempt, then a WebhookDeliveryError', async () => {
    const server = await receiver([status(400)]);
    const { sink, calls, delays } = sinkFor(server.url);
    const error = await rejection(sink.deliver(anAlert()));
    expect(error).toBeInstanceOf(WebhookDeliveryError);
    expect(error).toMatchObject({ attempts: 1, status: 400, name: 'WebhookDeliveryError' });
    expect((error as Error).message).toBe('webhook alert delivery to http://127.0.0.1:' + new URL(server.url).port + ' failed (not retried): HTTP 400');
    expect(calls.count).toBe(1);
    expect(delays).toEqual([]);
  });

  it('does not follow or retry a redirect', async () => {
    const server = await receiver([status(302, { location: 'http://127.0.0.1:1/elsewhere' })]);
    const { sink, calls } = sinkFor(server.url);
    const error = await rejection(sink.deliver(anAlert()));
    expect(error).toMatchObject({ attempts: 1, status: 302 });
    expect((error as Error).message).toContain('redirects are not followed');
    expect(calls.count).toBe(1);
  });

  it('gives up after maxAttempts 5xx, with delays capped at maxDelayMs', async () => {
    const server = await receiver([status(500), status(502), status(503), status(504), status(503)]);
    const { sink, calls, delays } = sinkFor(server.url, { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300, random: () => 0.999 });
    const error = await rejection(sink.deliver(anAlert()));
    expect(error).toMatchObject({ attempts: 5, status: 503 });
    expect((error as Error).message).toContain('failed (gave up after 5 attempts): HTTP 503');
    expect(calls.count).toBe(5);
    expect(delays).toEqual([99, 199, 299, 299]);
  });

  it('aborts an attempt that gets no answer within timeoutMs, and retries it', async () => {
    const server = await receiver(['hang', 'hang', 'hang']);
    const { sink, calls, delays } = sinkFor(server.url, { timeoutMs: 100, maxAttempts: 3 });
    const error = await rejection(sink.deliver(anAlert()));
    expect(error).toMatchObject({ attempts: 3, status: null });
    expect((error as Error).message).toContain('gave up after 3 attempts): no response within 100 ms');
    expect(((error as Error).cause as Error).name).toBe('TimeoutError');
    expect(calls.count).toBe(3);
    expect(delays).toHaveLength(2);
  });

  it('gives each attempt its own timeout (two hangs, then an answer: delivered)', async () => {
    const server = await receiver(['hang', 'hang', status(200)]);
    const { sink, calls } = sinkFor(server.url, { timeoutMs: 100, maxAttempts: 3 });
    await sink.deliver(anAlert());
    expect(calls.count).toBe(3);
  });

  it('retries a refused connection, then throws naming the cause', async () => {
    const port = await closedPort();
    const { sink, calls, delays } = sinkFor(`http://127.0.0.1:${port}/hook`, { maxAttempts: 3, secret: SECRET });
    const error = await rejection(sink.deliver(anAlert()));
    expect(error).toMatchObject({ attempts: 3, status: null });
    expect((error as Error).message).toMatch(/gave up after 3 attempts\): network error \(.*ECONNREFUSED/);
    expect(calls.count).toBe(3);
    expect(delays).toEqual([100, 200]);
  });

  it('never puts the secret, header values or the URL path in errors or in inspect output', async () => {
    const refused = `http://127.0.0.1:${await closedPort()}/hooks/${SECRET}`;
    const server = await receiver([status(400)]);
    const headers = { authorization: `Bearer ${SECRET}` };
    const failures = [
      await rejection(sinkFor(server.url, { secret: SECRET, headers }).sink.deliver(anAlert())),
      await rejection(sinkFor(refused, { secret: SECRET, headers, maxAttempts: 2 }).sink.deliver(anAlert())),
      await rejection(Promise.resolve().then(() => new WebhookAlertSink({ url: `ftp://u:${SECRET}@example.com/` }))),
      await rejection(Promise.resolve().then(() => new WebhookAlertSink({ url: refused, secret: SECRET, timeoutMs: -1 }))),
      await rejection(Promise.resolve().then(() => new WebhookAlertSink({ url: refused, headers: { 'bad header': SECRET } }))),
    ];
    for (const error of failures) {
      expect(error).toBeInstanceOf(Error);
      expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
    }
    const sink = sinkFor(refused, { secret: SECRET, headers }).sink;
    expect(inspect(sink, { depth: 10, showHidden: true })).not.toContain(SECRET);
    expect(JSON.stringify(sink)).not.toContain(SECRET);
  });

  it.each<[string, Partial<WebhookAlertSinkOptions>, string]>([
    ['a URL that does not parse', { url: 'not a url' }, 'webhook.url'],
    ['an empty URL', { url: '' }, 'webhook.url'],
    ['a non-http(s) URL', { url: 'ftp://example.com/hook' }, 'webhook.url'],
    ['a zero timeout', { timeoutMs: 0 }, 'webhook.timeoutMs'],
    ['a fractional timeout', { timeoutMs: 1.5 }, 'webhook.timeoutMs'],
    ['a negative maxAttempts', { maxAttempts: -1 }, 'webhook.maxAttempts'],
    ['a NaN baseDelayMs', { baseDelayMs: Number.NaN }, 'webhook.baseDelayMs'],
    ['an infinite maxDelayMs', { maxDelayMs: Number.POSITIVE_INFINITY }, 'webhook.maxDelayMs'],
    ['maxDelayMs below baseDelayMs', { baseDelayMs: 500, maxDelayMs: 100 }, 'webhook.maxDelayMs'],
    ['an empty secret', { secret: '' }, 'webhook.secret'],
    ['a header the sink owns', { headers: { 'Content-Type': 'text/plain' } }, 'webhook.headers'],
    ['a signature header', { headers: { 'X-Token-Usage-Signature': 'sha256=00' } }, 'webhook.headers'],
    ['an invalid header name', { headers: { 'bad name': 'x' } }, 'webhook.headers'],
  ])('rejects %s with a ConfigError', (_, options, field) => {
    const create = () => new WebhookAlertSink({ url: 'https://hooks.example.com/usage', ...options });
    expect(create).toThrow(ConfigError);
    try {
      create();
    } catch (error) {
      expect(error).toMatchObject({ code: 'USAGE.INVALID_CONFIG', variable: field });
    }
  });

  it('accepts http and https URLs with the defaults', () => {
    expect(() => new WebhookAlertSink({ url: 'http://127.0.0.1:8080/hook' })).not.toThrow();
    expect(() => new WebhookAlertSink({ url: 'https://hooks.example.com/usage', secret: 's' })).not.toThrow();
  });
});
