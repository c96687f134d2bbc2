import { describe, expect, it } from 'vitest';
import { InMemoryUsageInspector } from '../../src/adapters/memory/in-memory-usage-inspector.js';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import { ConsistencyVerifier } from '../../src/domain/consistency-verifier.js';
import type { VerificationProgress } from '../../src/domain/consistency-verifier.js';
import { isUsageError } from '../../src/domain/errors.js';
import { userId } from '../../src/domain/user-id.js';
import type {
  InspectedRecord,
  InspectedTarget,
  RepairCommand,
  RepairOutcome,
  ScanCyclesOptions,
  UsageInspector,
} from '../../src/ports/usage-inspector.js';
import { aCycle, aLimit, aUsageRecord, CYCLE, OTHER_CYCLE } from '../support/mothers.js';

/** A hand-written inspector over plain hashes, applying repairs by compare-and-set. */
class FakeInspector implements UsageInspector {
  readonly hashes = new Map<string, Record<string, string> | 'list'>();
  readonly pages: number[] = [];
  /** Called between a record's read and its repair, to simulate a concurrent writer. */
  beforeRepair: (key: string) => void = () => {};

  put(user: string, cycle: string | null, fields: Record<string, string> | 'list'): void {
    this.hashes.set(`${user}|${cycle ?? 'policy'}`, fields);
  }

  async *scanCycles(options: ScanCyclesOptions): AsyncIterable<readonly InspectedRecord[]> {
    let page: InspectedRecord[] = [];
    for (const key of this.hashes.keys()) {
      const [user, cycle] = key.split('|') as [string, string];
      if (cycle === 'policy' || (options.cycle !== undefined && cycle !== options.cycle)) continue;
      page.push(this.#record(key, { kind: 'cycle', userId: userId(user), cycle: cycleStart(cycle) }));
      if (page.length === options.batchSize) {
        this.pages.push(page.length);
        yield page;
        page = [];
      }
    }
    if (page.length > 0) {
      this.pages.push(page.length);
      yield page;
    }
  }

  async readRecord(target: InspectedTarget): Promise<InspectedRecord | null> {
    const key = this.#key(target);
    return this.hashes.has(key) ? this.#record(key, target) : null;
  }

  async repairRecord(command: RepairCommand): Promise<RepairOutcome> {
    const key = this.#key(command.target);
    this.beforeRepair(key);
    const hash = this.hashes.get(key);
    if (hash === undefined || hash === 'list') return 'changed-concurrently';
    for (const [field, value] of Object.entries(command.expected)) {
      if ((hash[field] ?? null) !== value) return 'changed-concurrently';
    }
    for (const [field, value] of Object.entries(command.changes)) {
      if (value === null) delete hash[field];
      else hash[field] = value;
    }
    return 'applied';
  }

  #key(target: InspectedTarget): string {
    return `${target.userId}|${target.kind === 'cycle' ? target.cycle : 'policy'}`;
  }

  #record(key: string, target: InspectedTarget): InspectedRecord {
    const hash = this.hashes.get(key);
    if (hash === 'list') return { target, key, type: 'wrong-type', actualType: 'list' };
    return { target, key, type: 'hash', fields: { ...hash } };
  }
}

function corruptFixture(): FakeInspector {
  const inspector = new FakeInspector();
  inspector.put('clean', CYCLE, { prompt_tokens: '1', completion_tokens: '2', total_tokens: '3' });
  inspector.put('negative', CYCLE, { prompt_tokens: '-5', total_tokens: '0' });
  inspector.put('inflated', CYCLE, { prompt_tokens: '10', total_tokens: '40' });
  inspector.put('listy', CYCLE, 'list');
  inspector.put('other-cycle', OTHER_CYCLE, { prompt_tokens: 'abc' });
  return inspector;
}

describe('ConsistencyVerifier', () => {
  it('finds nothing in data written through the in-memory store', async () => {
    const store = new InMemoryUsageStore();
    const users = ['a', 'b:c', '{d}'].map((id) => userId(id));
    for (const user of users) {
      await store.recordUsage(aUsageRecord({ userId: user, prompt: 3, completion: 4, total: 10 }));
      await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(OTHER_CYCLE), prompt: 1, completion: 1 }));
      await store.setLimit(aLimit(user, 500));
      await store.setLimit(aLimit(user, 50, aCycle()));
    }
    const verifier = new ConsistencyVerifier(new InMemoryUsageInspector(store));
    const progress: VerificationProgress[] = [];
    const report = await verifier.verifyCycle(CYCLE, { batchSize: 2, onProgress: (p) => progress.push(p) });
    expect(report).toMatchObject({ mode: 'dry-run', scanned: 3, findings: [], repaired: [], skipped: [] });
    expect(progress.map((p) => p.scanned)).toEqual([2, 3]);
    expect((await verifier.verifyCycle(undefined, { repair: true })).scanned).toBe(6);
    const one = await verifier.verifyUser('b:c', '2024-01-01', { repair: true });
    expect(one).toMatchObject({ scanned: 2, findings: [], repaired: [] }); // the cycle and the policy hash
  });

  it('is a dry run by default: reports every finding and changes nothing', async () => {
    const inspector = corruptFixture();
    const before = JSON.stringify([...inspector.hashes]);
    const report = await new ConsistencyVerifier(inspector).verifyCycle(CYCLE);
    expect(JSON.stringify([...inspector.hashes])).toBe(before);
    expect(report.mode).toBe('dry-run');
    expect(report.scanned).toBe(4);
    expect(report.findings.map((f) => [f.userId, f.kind])).toEqual([
      ['negative', 'negative-counter'],
      ['inflated', 'total-mismatch'],
      ['listy', 'wrong-type'],
    ]);
    expect(report.findings[2]).toMatchObject({ key: 'listy|2024-01-01', cycle: CYCLE, field: null, actualType: 'list' });
    expect(report.skipped).toEqual([{ key: 'listy|2024-01-01', userId: 'listy', cycle: CYCLE, reason: 'not-a-hash' }]);
    expect(report.repaired).toEqual([]);
  });

  it('repairs by compare-and-set, reports before/after, and a second run is clean', async () => {
    const inspector = corruptFixture();
    const verifier = new ConsistencyVerifier(inspector);
    const report = await verifier.verifyCycle(undefined, { repair: true });
    expect(report.mode).toBe('repair');
    expect(report.repaired).toEqual([
      expect.objectContaining({ userId: 'negative', changes: [{ field: 'prompt_tokens', before: '-5', after: '0' }] }),
      expect.objectContaining({ userId: 'inflated', changes: [{ field: 'total_tokens', before: '40', after: '10' }] }),
      expect.objectContaining({
        userId: 'other-cycle',
        cycle: OTHER_CYCLE,
        changes: [{ field: 'prompt_tokens', before: 'abc', after: '0' }],
      }),
    ]);
    expect(inspector.hashes.get('inflated|2024-01-01')).toEqual({ prompt_tokens: '10', total_tokens: '10' });
    const again = await verifier.verifyCycle(undefined, { repair: true });
    expect(again.findings.map((f) => f.kind)).toEqual(['wrong-type']);
    expect(again.repaired).toEqual([]);
  });

  it('treatExcessAsUnattributed keeps an inflated total (constructor default or per call)', async () => {
    const inspector = corruptFixture();
    await new ConsistencyVerifier(inspector, { treatExcessAsUnattributed: true }).verifyCycle(CYCLE, { repair: true });
    expect(inspector.hashes.get('inflated|2024-01-01')).toEqual({ prompt_tokens: '10', total_tokens: '40', other_tokens: '30' });
    const other = corruptFixture();
    await new ConsistencyVerifier(other).verifyUser('inflated', '2024-01-01', { repair: true, treatExcessAsUnattributed: true });
    expect(other.hashes.get('inflated|2024-01-01')).toMatchObject({ other_tokens: '30' });
  });

  it('skips a record that changed between read and repair, and leaves it as the writer left it', async () => {
    const inspector = corruptFixture();
    inspector.beforeRepair = (key) => {
      const hash = inspector.hashes.get(key);
      if (key.startsWith('inflated|') && typeof hash === 'object') hash['prompt_tokens'] = '11';
    };
    const report = await new ConsistencyVerifier(inspector).verifyCycle(CYCLE, { repair: true });
    expect(report.skipped).toContainEqual(expect.objectContaining({ userId: 'inflated', reason: 'changed-concurrently' }));
    expect(inspector.hashes.get('inflated|2024-01-01')).toEqual({ prompt_tokens: '11', total_tokens: '40' });
    expect(report.counts).toEqual({ findings: 3, repaired: 1, skipped: 2 });
  });

  it('checks the policy hash in verifyUser', async () => {
    const inspector = new FakeInspector();
    inspector.put('p', null, { usage_limit: '-10' });
    const verifier = new ConsistencyVerifier(inspector);
    const report = await verifier.verifyUser('p', '2024-01-01', { repair: true });
    expect(report.findings).toEqual([
      { key: 'p|policy', userId: 'p', cycle: null, kind: 'bad-standing-limit', field: 'usage_limit', value: '-10' },
    ]);
    expect(inspector.hashes.get('p|policy')).toEqual({});
  });

  it('caps the lists at maxFindings but keeps counting', async () => {
    const inspector = new FakeInspector();
    for (let i = 0; i < 10; i += 1) inspector.put(`u${i}`, CYCLE, { prompt_tokens: '-1', total_tokens: '7' });
    const report = await new ConsistencyVerifier(inspector, { maxFindings: 3 }).verifyCycle(CYCLE, { batchSize: 4 });
    expect(report.findings).toHaveLength(3);
    expect(report.counts.findings).toBe(20); // a negative prompt and an inflated total each
    expect(report.truncated).toBe(true);
    expect(inspector.pages).toEqual([4, 4, 2]);
  });

  it('rejects bad input with ValidationError before touching the store', async () => {
    const inspector = corruptFixture();
    const verifier = new ConsistencyVerifier(inspector);
    const cases: [Promise<unknown>, string][] = [
      [verifier.verifyUser('', '2024-01-01'), 'USAGE.INVALID_USER_ID'],
      [verifier.verifyUser('u', '2024-02-30'), 'USAGE.INVALID_CYCLE_DATE'],
      [verifier.verifyCycle('01/01/2024'), 'USAGE.INVALID_CYCLE_DATE'],
      ...[0, -1, 1.5, 10_001, Number.NaN].map((batchSize): [Promise<unknown>, string] => [
        verifier.verifyCycle(undefined, { batchSize }),
        'USAGE.INVALID_OPTION',
      ]),
      [verifier.verifyCycle(undefined, { maxFindings: -1 }), 'USAGE.INVALID_OPTION'],
    ];
    for (const [call, code] of cases) {
      const error = await call.then(
        () => null,
        (e: unknown) => e,
      );
      expect(isUsageError(error, code as never), String(error)).toBe(true);
    }
    expect(inspector.pages).toEqual([]);
    expect(() => new ConsistencyVerifier(inspector, { maxFindings: 1.5 })).toThrow(/maxFindings/);
    expect((await verifier.verifyCycle(undefined, { batchSize: 10_000 })).scanned).toBe(5);
  });
});
