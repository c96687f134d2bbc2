import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTokenUsageRepository } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

type Step =
  | { kind: 'record'; path: 'increment' | 'commit'; prompt: number; completion: number; other: number; cycle: 0 | 1 | 2; key: number | null }
  | { kind: 'reset'; cycle: 0 | 1 | 2 }
  | { kind: 'advance'; hours: number };

const CYCLES = ['2024-02-01', '2024-03-01', '2024-04-01'] as const;
const LAST_DAY = ['2024-02-29', '2024-03-31', '2024-04-30'] as const;

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      path: fc.constantFrom('increment' as const, 'commit' as const),
      prompt: fc.integer({ min: 0, max: 1_000 }),
      completion: fc.integer({ min: 0, max: 1_000 }),
      other: fc.integer({ min: 0, max: 50 }),
      cycle: fc.constantFrom(0 as const, 1 as const, 2 as const),
      key: fc.option(fc.integer({ min: 0, max: 5 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), cycle: fc.constantFrom(0 as const, 1 as const, 2 as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 200 }) }) },
);

describe('usage history sums to the cycle totals (property, in-memory store, fake clock)', () => {
  it('holds after any sequence of records (some repeated by idempotency key), resets and clock moves, in every cycle', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const clock = new FakeClock('2024-02-27T20:00:00Z');
        const repo = createTokenUsageRepository({
          config: { store: 'memory', cycle: { policy: 'monthly', timeZone: 'Asia/Tokyo', retentionCycles: 0 } },
          clock,
          logger: new RecordingLogger(),
        });
        for (const s of steps) {
          if (s.kind === 'advance') clock.advance(s.hours * 3_600_000);
          else if (s.kind === 'reset') await repo.resetUsage('u', CYCLES[s.cycle]);
          else {
            const total = s.prompt + s.completion + s.other;
            if (total === 0) continue;
            const cycle = CYCLES[s.cycle];
            // A key repeats only within one cycle (a repeat is a duplicate: it changes nothing anywhere).
            const options = s.key === null ? {} : { idempotencyKey: `${cycle}-k${s.key}` };
            if (s.path === 'increment') {
              await repo.incrementDetailedUsage('u', s.prompt, s.completion, cycle, options);
              if (s.other > 0) await repo.incrementTotalUsage('u', s.other, cycle);
            } else {
              const reserved = await repo.reserve('u', 1, { cycleStartDate: cycle });
              if (!reserved.granted) throw new Error('no limit is set, so every reservation is granted');
              await repo.commit(reserved.reservation, { promptTokens: s.prompt, completionTokens: s.completion, totalTokens: total }, options);
            }
          }
        }
        for (const [i, cycle] of CYCLES.entries()) {
          const rows = await repo.usageHistory('u', { from: cycle, to: LAST_DAY[i] as string });
          const sum = rows.reduce(
            (acc, row) => ({
              promptTokens: acc.promptTokens + row.promptTokens,
              completionTokens: acc.completionTokens + row.completionTokens,
              totalTokens: acc.totalTokens + row.totalTokens,
            }),
            { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
          );
          expect(sum).toEqual(await repo.getUsageStats('u', cycle));
        }
        await repo.close();
      }),
      { numRuns: 60 },
    );
  });
});

describe('projectUsage at the edges of a cycle', () => {
  const make = (at: string) => {
    const clock = new FakeClock(at);
    const repo = createTokenUsageRepository({ config: { store: 'memory' }, clock, logger: new RecordingLogger() });
    return { clock, repo };
  };

  it('projects an ended cycle to its total and finds the day the limit was reached', async () => {
    const { clock, repo } = make('2024-01-10T12:00:00Z');
    await repo.setUsageLimit('u', 100, '2024-01-01');
    await repo.incrementTotalUsage('u', 60, '2024-01-01');
    clock.set('2024-01-20T12:00:00Z');
    await repo.incrementTotalUsage('u', 60, '2024-01-01');
    clock.set('2024-03-05T00:00:00Z');
    expect(await repo.projectUsage('u', '2024-01-01')).toEqual({
      cycleStartDate: '2024-01-01',
      cycleEndDate: '2024-02-01',
      totalTokens: 120,
      ratePerDay: Math.round((120 / 31) * 1000) / 1000,
      projectedTotal: 120,
      limit: 100,
      limitReachedOn: '2024-01-20',
    });
  });

  it('projects nothing for a cycle that has not started, and no date when the rate stays under the limit', async () => {
    const { repo } = make('2024-01-16T00:00:00Z');
    await repo.incrementTotalUsage('u', 10, '2024-02-01');
    expect(await repo.projectUsage('u', '2024-02-01')).toMatchObject({ totalTokens: 10, ratePerDay: 0, projectedTotal: 10, limitReachedOn: null });
    await repo.setUsageLimit('u', 1_000);
    await repo.incrementTotalUsage('u', 150); // 15 days elapsed: 10 a day, 310 by the end of January
    expect(await repo.projectUsage('u')).toMatchObject({ ratePerDay: 10, projectedTotal: 310, limit: 1_000, limitReachedOn: null });
  });
});
