import type { CycleStart } from '../../domain/billing-cycle.js';
import type { UserId } from '../../domain/user-id.js';
import type { DailyUsage, UsageHistoryStore } from '../../ports/usage-history-store.js';
import type { InMemoryUsageStore } from './in-memory-usage-store.js';

/** A `UsageHistoryStore` over an `InMemoryUsageStore`'s daily rollups. */
export class InMemoryUsageHistoryStore implements UsageHistoryStore {
  readonly #store: InMemoryUsageStore;

  constructor(store: InMemoryUsageStore) {
    this.#store = store;
  }

  async readDailyUsage(userId: UserId, cycles: readonly CycleStart[]): Promise<DailyUsage[][]> {
    return cycles.map((cycle) => this.#store.dailyUsage(userId, cycle));
  }
}
