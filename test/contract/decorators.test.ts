import { CachingUsageStore } from '../../src/adapters/decorators/caching-usage-store.js';
import { MeteredUsageStore } from '../../src/adapters/decorators/metered-usage-store.js';
import { NoopMetrics } from '../../src/adapters/metrics/noop-metrics.js';
import { RetryingUsageStore } from '../../src/adapters/decorators/retrying-usage-store.js';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import type { CycleRef, ReadOptions, UsageSnapshot, UsageStore } from '../../src/ports/usage-store.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeUsageStoreContract } from './usage-store.contract.js';

const retrying = (inner: UsageStore): UsageStore => new RetryingUsageStore(inner, { logger: new RecordingLogger() });
const caching = (inner: UsageStore, ttlMs?: number): UsageStore =>
  new CachingUsageStore(inner, { clock: systemClock, ...(ttlMs === undefined ? {} : { ttlMs }) });

describeUsageStoreContract('Retrying(InMemory)', () => retrying(new InMemoryUsageStore()));
describeUsageStoreContract('Caching(InMemory)', () => caching(new InMemoryUsageStore()));
describeUsageStoreContract('Retrying(Caching(InMemory))', () => retrying(caching(new InMemoryUsageStore())));
describeUsageStoreContract('Metered(InMemory)', () => new MeteredUsageStore(new InMemoryUsageStore(), new NoopMetrics()));

/**
 * Every read of the contract marked `allowStale`, so it runs through the cache: writes through the
 * decorator must still be read back at once. The TTL (50 ms) is below the contract's lease sleeps
 * (120 ms), the only changes that do not pass through the decorator.
 */
class AllowStaleReads implements UsageStore {
  readonly #inner: UsageStore;
  constructor(inner: UsageStore) {
    this.#inner = inner;
  }
  readUsage(ref: CycleRef, _options?: ReadOptions): Promise<UsageSnapshot> {
    return this.#inner.readUsage(ref, { allowStale: true });
  }
  recordUsage = (...args: Parameters<UsageStore['recordUsage']>) => this.#inner.recordUsage(...args);
  recordUsageBatch = (...args: Parameters<UsageStore['recordUsageBatch']>) => this.#inner.recordUsageBatch(...args);
  resetUsage = (...args: Parameters<UsageStore['resetUsage']>) => this.#inner.resetUsage(...args);
  setLimit = (...args: Parameters<UsageStore['setLimit']>) => this.#inner.setLimit(...args);
  reserve = (...args: Parameters<UsageStore['reserve']>) => this.#inner.reserve(...args);
  releaseLease = (...args: Parameters<UsageStore['releaseLease']>) => this.#inner.releaseLease(...args);
  close = () => this.#inner.close();
}

describeUsageStoreContract('Caching(InMemory), every read allowStale', () =>
  new AllowStaleReads(caching(new InMemoryUsageStore(), 50)),
);
