import type {
  InspectedRecord,
  InspectedTarget,
  RepairCommand,
  RepairOutcome,
  ScanCyclesOptions,
  UsageInspector,
} from '../../ports/usage-inspector.js';
import type { InMemoryUsageStore } from './in-memory-usage-store.js';

/**
 * A `UsageInspector` over an `InMemoryUsageStore`. In-memory data is consistent by construction
 * (it holds numbers, and every write keeps the total), so this reports its values as the strings a
 * Redis hash would hold, and a repair is never needed. Keys are `memory:<user>:<date|policy>`, for
 * reports only.
 */
export class InMemoryUsageInspector implements UsageInspector {
  readonly #store: InMemoryUsageStore;

  constructor(store: InMemoryUsageStore) {
    this.#store = store;
  }

  async *scanCycles(options: ScanCyclesOptions): AsyncIterable<readonly InspectedRecord[]> {
    let page: InspectedRecord[] = [];
    for (const record of this.#records()) {
      if (record.target.kind !== 'cycle' || (options.cycle !== undefined && record.target.cycle !== options.cycle)) continue;
      page.push(record);
      if (page.length >= options.batchSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  async readRecord(target: InspectedTarget): Promise<InspectedRecord | null> {
    for (const record of this.#records()) {
      const found = record.target;
      if (found.kind !== target.kind || found.userId !== target.userId) continue;
      if (found.kind === 'policy' || (target.kind === 'cycle' && found.cycle === target.cycle)) return record;
    }
    return null;
  }

  async repairRecord(command: RepairCommand): Promise<RepairOutcome> {
    const record = await this.readRecord(command.target);
    const fields = record?.type === 'hash' ? record.fields : {};
    const unchanged = Object.entries(command.expected).every(([field, value]) => (fields[field] ?? null) === value);
    if (!unchanged) return 'changed-concurrently';
    throw new Error(`${record?.key ?? 'record'}: in-memory data cannot be inconsistent; nothing to repair`);
  }

  *#records(): Generator<InspectedRecord> {
    for (const { userId, cycle, fields } of this.#store.inspectRecords()) {
      const target: InspectedTarget = cycle === null ? { kind: 'policy', userId } : { kind: 'cycle', userId, cycle };
      yield { target, key: `memory:${userId}:${cycle ?? 'policy'}`, type: 'hash', fields };
    }
  }
}
