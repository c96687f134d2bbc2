import { StoreUnavailableError } from '../../src/domain/errors.js';
import type { UsageStore } from '../../src/ports/usage-store.js';

/**
 * A store decorator whose calls fail with `StoreUnavailableError` while `down` is true (or for the
 * methods listed in `failing`), and pass through to the inner store otherwise.
 */
export class SwitchableStore implements UsageStore {
  down = false;
  failing = new Set<keyof UsageStore>();
  readonly inner: UsageStore;

  constructor(inner: UsageStore) {
    this.inner = inner;
  }

  #gate(operation: keyof UsageStore): void {
    if (this.down || this.failing.has(operation)) {
      throw new StoreUnavailableError(operation, 'connect ECONNREFUSED 127.0.0.1:1 (simulated)');
    }
  }

  async recordUsage(...args: Parameters<UsageStore['recordUsage']>) {
    this.#gate('recordUsage');
    return this.inner.recordUsage(...args);
  }
  async recordUsageBatch(...args: Parameters<UsageStore['recordUsageBatch']>) {
    this.#gate('recordUsageBatch');
    return this.inner.recordUsageBatch(...args);
  }
  async readUsage(...args: Parameters<UsageStore['readUsage']>) {
    this.#gate('readUsage');
    return this.inner.readUsage(...args);
  }
  async resetUsage(...args: Parameters<UsageStore['resetUsage']>) {
    this.#gate('resetUsage');
    return this.inner.resetUsage(...args);
  }
  async setLimit(...args: Parameters<UsageStore['setLimit']>) {
    this.#gate('setLimit');
    return this.inner.setLimit(...args);
  }
  async reserve(...args: Parameters<UsageStore['reserve']>) {
    this.#gate('reserve');
    return this.inner.reserve(...args);
  }
  async releaseLease(...args: Parameters<UsageStore['releaseLease']>) {
    this.#gate('releaseLease');
    return this.inner.releaseLease(...args);
  }
  async close() {
    return this.inner.close();
  }
}
