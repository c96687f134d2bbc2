import { expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import type { UsageStore } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { bearer, SECRETS, testServer } from '../support/service.js';

/** The in-memory store, with `recordUsage` held until `release()` (to have a request in flight on close). */
function gatedStore() {
  const inner = new InMemoryUsageStore({ clock: new FakeClock('2024-01-15T12:00:00Z') });
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((done) => (release = done));
  const inside = new Promise<void>((done) => (entered = done));
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === 'recordUsage') {
        return async (...args: Parameters<UsageStore['recordUsage']>) => {
          entered();
          await gate;
          return target.recordUsage(...args);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { inner, store, release, inside };
}

it('close stops accepting, lets the in-flight record finish and answer, then closes the repository', async () => {
  const { inner, store, release, inside } = gatedStore();
  const { app } = await testServer({ store });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const inFlight = fetch(`${base}/v1/usage`, {
    method: 'POST',
    headers: { ...bearer(SECRETS.record), 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'u1', promptTokens: 10, completionTokens: 5 }),
  });
  await inside;
  const closing = app.close();
  // A new request is refused (the listener is closed) or answered 503 (fastify's return503OnClosing).
  const late = await fetch(`${base}/readyz`).then(
    (reply) => reply.status,
    () => 'refused',
  );
  expect([503, 'refused']).toContain(late);
  release();
  const reply = await inFlight;
  expect(reply.status).toBe(200);
  expect(((await reply.json()) as { counters: { totalTokens: number } }).counters.totalTokens).toBe(15);
  // The store answered the in-flight write (above), and only then did the close reach it.
  await closing;
  await expect(inner.readUsage({ userId: 'u1', cycle: '2024-01-01' } as never)).rejects.toThrow(/closed/);
});
