import { describe, expect, it } from 'vitest';
import { CachingUsageStore } from '../../src/adapters/decorators/caching-usage-store.js';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { StoreUnavailableError } from '../../src/domain/errors.js';
import type { UserId } from '../../src/domain/user-id.js';
import type { CycleRef, UsageSnapshot, UsageStore } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { aCycle, aLimit, aReserve, aUsageRecord, aUserId, CYCLE, OTHER_CYCLE } from '../support/mothers.js';

const TTL = 60_000;

/** A hand-written fake around the in-memory store: counts calls; can hold reads or fail writes. */
class CountingStore implements UsageStore {
  readonly inner: InMemoryUsageStore;
  reads = 0;
  reserves = 0;
  closed = false;
  failWrites = false;
  /** When set, a read waits for it before answering (a read in flight). */
  readGate: Promise<void> | undefined;

  constructor(clock: FakeClock) {
    this.inner = new InMemoryUsageStore({ clock });
  }

  async readUsage(...args: Parameters<UsageStore['readUsage']>): Promise<UsageSnapshot> {
    this.reads += 1;
    const gate = this.readGate;
    const snapshot = await (this.inner as UsageStore).readUsage(...args);
    if (gate !== undefined) await gate;
    return snapshot;
  }
  async recordUsage(...args: Parameters<UsageStore['recordUsage']>) {
    this.#maybeFail();
    return this.inner.recordUsage(...args);
  }
  async recordUsageBatch(...args: Parameters<UsageStore['recordUsageBatch']>) {
    this.#maybeFail();
    return this.inner.recordUsageBatch(...args);
  }
  async resetUsage(...args: Parameters<UsageStore['resetUsage']>) {
    this.#maybeFail();
    return this.inner.resetUsage(...args);
  }
  async setLimit(...args: Parameters<UsageStore['setLimit']>) {
    this.#maybeFail();
    return this.inner.setLimit(...args);
  }
  async reserve(...args: Parameters<UsageStore['reserve']>) {
    this.reserves += 1;
    this.#maybeFail();
    return this.inner.reserve(...args);
  }
  async releaseLease(...args: Parameters<UsageStore['releaseLease']>) {
    this.#maybeFail();
    return this.inner.releaseLease(...args);
  }
  async close() {
    this.closed = true;
  }
  #maybeFail(): void {
    if (this.failWrites) throw new StoreUnavailableError('write', 'Redis failed: Command timed out');
  }
}

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  const clock = new FakeClock('2024-01-15T12:00:00Z');
  const inner = new CountingStore(clock);
  const store = new CachingUsageStore(inner, { clock, ttlMs: options.ttlMs ?? TTL, ...(options.maxEntries ? { maxEntries: options.maxEntries } : {}) });
  return { clock, inner, store };
}

const ref = (userId: UserId, cycle = CYCLE): CycleRef => ({ userId, cycle });
const stale = { allowStale: true } as const;
/** Writes behind the decorator's back (another process), so only a store read can see them. */
const recordBehind = (inner: CountingStore, user: UserId, prompt = 1, cycle = CYCLE) =>
  inner.inner.recordUsage(aUsageRecord({ userId: user, prompt, completion: 0, cycle: aCycle(cycle) }));

describe('CachingUsageStore: reads', () => {
  it('serves allowStale reads from the cache within the TTL, without calling the store', async () => {
    const { clock, inner, store } = setup();
    const user = aUserId();
    await recordBehind(inner, user, 5);
    expect((await store.readUsage(ref(user), stale)).promptTokens).toBe(5);
    await recordBehind(inner, user, 7);
    clock.advance(TTL - 1);
    expect((await store.readUsage(ref(user), stale)).promptTokens).toBe(5); // stale, by contract
    expect(inner.reads).toBe(1);
  });

  it('reads the store again once the TTL has passed', async () => {
    const { clock, inner, store } = setup();
    const user = aUserId();
    await store.readUsage(ref(user), stale);
    await recordBehind(inner, user, 7);
    clock.advance(TTL);
    expect((await store.readUsage(ref(user), stale)).promptTokens).toBe(7);
    expect(inner.reads).toBe(2);
    expect((await store.readUsage(ref(user), stale)).promptTokens).toBe(7);
    expect(inner.reads).toBe(2);
  });

  it('always reads the store without allowStale, and refreshes the cached entry', async () => {
    const { inner, store } = setup();
    const user = aUserId();
    await store.readUsage(ref(user), stale);
    await recordBehind(inner, user, 3);
    expect((await store.readUsage(ref(user))).promptTokens).toBe(3);
    expect((await store.readUsage(ref(user), { allowStale: false })).promptTokens).toBe(3);
    expect(inner.reads).toBe(3);
    expect((await store.readUsage(ref(user), stale)).promptTokens).toBe(3);
    expect(inner.reads).toBe(3);
  });

  it('ages an entry from when its store read began', async () => {
    const { clock, inner, store } = setup();
    const user = aUserId();
    let open!: () => void;
    inner.readGate = new Promise((resolve) => (open = resolve));
    const first = store.readUsage(ref(user));
    clock.advance(TTL); // the read took as long as the TTL
    open();
    await first;
    inner.readGate = undefined;
    await store.readUsage(ref(user), stale);
    expect(inner.reads).toBe(2);
  });

  it('keeps cycles and users apart', async () => {
    const { inner, store } = setup();
    const [alice, bob] = [aUserId(), aUserId()];
    await recordBehind(inner, alice, 1);
    await recordBehind(inner, alice, 2, OTHER_CYCLE);
    await recordBehind(inner, bob, 3);
    for (let i = 0; i < 2; i++) {
      expect((await store.readUsage(ref(alice), stale)).promptTokens).toBe(1);
      expect((await store.readUsage(ref(alice, OTHER_CYCLE), stale)).promptTokens).toBe(2);
      expect((await store.readUsage(ref(bob), stale)).promptTokens).toBe(3);
    }
    expect(inner.reads).toBe(3);
  });

  it('never answers reserve from the cache', async () => {
    const { inner, store } = setup();
    const user = aUserId();
    await store.readUsage(ref(user), stale); // cached: no limit
    await inner.inner.setLimit(aLimit(user, 10)); // set elsewhere
    expect(await store.reserve(aReserve(user, 11))).toMatchObject({ granted: false, limit: 10 });
    expect(await store.reserve(aReserve(user, 4))).toMatchObject({ granted: true });
    expect(inner.reserves).toBe(2);
  });
});

describe('CachingUsageStore: writes invalidate', () => {
  const writes: [string, (store: UsageStore, user: UserId) => Promise<unknown>][] = [
    ['recordUsage', (s, user) => s.recordUsage(aUsageRecord({ userId: user }))],
    ['recordUsageBatch', (s, user) => s.recordUsageBatch([aUsageRecord({ userId: aUserId() }), aUsageRecord({ userId: user })])],
    ['resetUsage', (s, user) => s.resetUsage(ref(user))],
    ['setLimit (this cycle)', (s, user) => s.setLimit(aLimit(user, 50, aCycle()))],
    ['setLimit (standing)', (s, user) => s.setLimit(aLimit(user, 50))],
    ['reserve', (s, user) => s.reserve(aReserve(user, 5))],
    ['releaseLease', (s, user) => s.releaseLease({ ...ref(user), lease: aReserve(user, 5).lease })],
  ];

  it.each(writes)('%s drops the cycle: the next allowStale read goes to the store', async (_name, write) => {
    const { inner, store } = setup();
    const [user, other] = [aUserId(), aUserId()];
    await store.readUsage(ref(user), stale);
    await store.readUsage(ref(other), stale);
    await write(store, user);
    await store.readUsage(ref(user), stale);
    expect(inner.reads).toBe(3);
    await store.readUsage(ref(other), stale); // another user's entry stays
    expect(inner.reads).toBe(3);
  });

  it.each(writes)('%s drops the cycle even when it fails (it may have been applied)', async (_name, write) => {
    const { inner, store } = setup();
    const user = aUserId();
    await store.readUsage(ref(user), stale);
    inner.failWrites = true;
    await expect(write(store, user)).rejects.toThrow(StoreUnavailableError);
    await store.readUsage(ref(user), stale);
    expect(inner.reads).toBe(2);
  });

  it('reads back what a write through it did at once', async () => {
    const { store } = setup();
    const user = aUserId();
    await store.readUsage(ref(user), stale);
    await store.recordUsage(aUsageRecord({ userId: user, prompt: 10, completion: 5 }));
    expect(await store.readUsage(ref(user), stale)).toMatchObject({ totalTokens: 15 });
    await store.reserve(aReserve(user, 4));
    expect(await store.readUsage(ref(user), stale)).toMatchObject({ reservedTokens: 4 });
  });

  it('a standing limit drops every cached cycle of its user, and only of that user', async () => {
    const { inner, store } = setup();
    const [user, other] = [aUserId(), aUserId()];
    for (const r of [ref(user), ref(user, OTHER_CYCLE), ref(other)]) await store.readUsage(r, stale);
    await store.setLimit(aLimit(user, 1_000));
    expect(await store.readUsage(ref(user), stale)).toMatchObject({ standingLimit: 1_000 });
    expect(await store.readUsage(ref(user, OTHER_CYCLE), stale)).toMatchObject({ standingLimit: 1_000 });
    expect(inner.reads).toBe(5);
    await store.readUsage(ref(other), stale);
    expect(inner.reads).toBe(5);
  });

  it('a cycle limit drops that cycle only', async () => {
    const { inner, store } = setup();
    const user = aUserId();
    await store.readUsage(ref(user), stale);
    await store.readUsage(ref(user, OTHER_CYCLE), stale);
    await store.setLimit(aLimit(user, 10, aCycle(OTHER_CYCLE)));
    await store.readUsage(ref(user), stale);
    expect(inner.reads).toBe(2);
    expect(await store.readUsage(ref(user, OTHER_CYCLE), stale)).toMatchObject({ cycleLimit: 10 });
    expect(inner.reads).toBe(3);
  });

  it.each([
    ['a write to the cycle', (s: UsageStore, user: UserId) => s.recordUsage(aUsageRecord({ userId: user }))],
    ['a standing limit', (s: UsageStore, user: UserId) => s.setLimit(aLimit(user, 99))],
  ])('does not cache a read that was in flight while %s finished', async (_name, write) => {
    const { inner, store } = setup();
    const user = aUserId();
    let open!: () => void;
    inner.readGate = new Promise((resolve) => (open = resolve));
    const inFlight = store.readUsage(ref(user), stale);
    await write(store, user);
    open();
    expect(await inFlight).toMatchObject({ totalTokens: 0, standingLimit: null }); // read before the write
    inner.readGate = undefined;
    const after = await store.readUsage(ref(user), stale);
    expect(inner.reads).toBe(2);
    expect(after.totalTokens === 15 || after.standingLimit === 99).toBe(true);
  });

  it('an older read finishing last does not replace a newer entry', async () => {
    const { inner, store } = setup();
    const user = aUserId();
    let open!: () => void;
    inner.readGate = new Promise((resolve) => (open = resolve));
    const older = store.readUsage(ref(user));
    inner.readGate = undefined;
    await recordBehind(inner, user, 8);
    await store.readUsage(ref(user)); // newer: 8
    open();
    await older; // answers 0
    expect((await store.readUsage(ref(user), stale)).promptTokens).toBe(8);
  });
});

describe('CachingUsageStore: bounded LRU', () => {
  it('evicts the least recently used entry and never holds more than maxEntries', async () => {
    const { inner, store } = setup({ maxEntries: 3 });
    const [a, b, c, d, e] = [aUserId('a'), aUserId('b'), aUserId('c'), aUserId('d'), aUserId('e')];
    for (const user of [a, b, c]) await store.readUsage(ref(user), stale);
    expect(store.size).toBe(3);
    await store.readUsage(ref(a), stale); // a is now the most recent; b the least
    expect(inner.reads).toBe(3);
    await store.readUsage(ref(d), stale); // evicts b
    expect(store.size).toBe(3);
    for (const user of [a, c, d]) await store.readUsage(ref(user), stale);
    expect(inner.reads).toBe(4);
    await store.readUsage(ref(b), stale); // a miss; evicts a, the least recently touched of a, c, d
    expect(inner.reads).toBe(5);
    expect(store.size).toBe(3);
    await store.readUsage(ref(a), stale);
    expect(inner.reads).toBe(6);
    for (let i = 0; i < 20; i++) {
      await store.readUsage(ref(i % 2 === 0 ? e : aUserId()), stale);
      expect(store.size).toBeLessThanOrEqual(3);
    }
  });

  it('a fresh read refreshes recency too', async () => {
    const { inner, store } = setup({ maxEntries: 2 });
    const [a, b, c] = [aUserId(), aUserId(), aUserId()];
    await store.readUsage(ref(a), stale);
    await store.readUsage(ref(b), stale);
    await store.readUsage(ref(a)); // refresh a; b is now the oldest
    await store.readUsage(ref(c), stale); // evicts b
    await store.readUsage(ref(a), stale);
    expect(inner.reads).toBe(4);
    await store.readUsage(ref(b), stale);
    expect(inner.reads).toBe(5);
  });

  it('rejects bad options', () => {
    const clock = new FakeClock();
    const inner = new InMemoryUsageStore();
    expect(() => new CachingUsageStore(inner, { clock, maxEntries: 0 })).toThrow(RangeError);
    expect(() => new CachingUsageStore(inner, { clock, ttlMs: -1 })).toThrow(RangeError);
  });
});

describe('CachingUsageStore: close', () => {
  it('drops the cache and closes the inner store', async () => {
    const { inner, store } = setup();
    await store.readUsage(ref(aUserId()), stale);
    await store.close();
    expect(store.size).toBe(0);
    expect(inner.closed).toBe(true);
  });
});
