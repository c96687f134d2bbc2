import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { TokenUsageRepository, UsageWindow } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';

/** What a history contract run needs: a repository on the store under test, Berlin monthly cycles, no expiry. */
export type HistoryRepositoryFactory = (clock: FakeClock) => { repo: TokenUsageRepository };

const CYCLE = '2027-03-01';
const PREVIOUS = '2027-02-01';
const ZONE = 'Europe/Berlin';

function sum(rows: readonly UsageWindow[]): { promptTokens: number; completionTokens: number; totalTokens: number } {
  return rows.reduce(
    (acc, row) => ({
      promptTokens: acc.promptTokens + row.promptTokens,
      completionTokens: acc.completionTokens + row.completionTokens,
      totalTokens: acc.totalTokens + row.totalTokens,
    }),
    { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
  );
}

/**
 * The usage-history contract: the daily rollups are written in the record step itself, so a cycle's
 * day rows always sum to its counters, whatever the interleaving, the write path or a reset.
 */
export function describeUsageHistoryContract(name: string, create: HistoryRepositoryFactory): void {
  describe(`usage history contract: ${name}`, () => {
    let clock: FakeClock;
    let repo: TokenUsageRepository;
    const user = (label: string): string => `${label}-${Math.random().toString(16).slice(2, 10)}`;
    const monthRows = (id: string, cycle = CYCLE): Promise<UsageWindow[]> =>
      repo.usageHistory(id, { from: cycle, to: cycle === CYCLE ? '2027-03-31' : '2027-02-28' });

    beforeEach(() => {
      // 23:30 UTC on the 3rd is already the 4th in Berlin (UTC+1 in March before the DST switch).
      clock = new FakeClock('2027-03-03T23:30:00Z');
      ({ repo } = create(clock));
    });

    afterEach(async () => {
      await repo.close();
    });

    it('puts usage on the local day it was recorded, with window bounds at local midnight', async () => {
      const id = user('day');
      await repo.incrementDetailedUsage(id, 10, 5);
      const rows = await repo.usageHistory(id, { from: '2027-03-03', to: '2027-03-04', timeZone: ZONE });
      expect(rows).toEqual([
        { windowStart: '2027-03-02T23:00:00.000Z', windowEnd: '2027-03-03T23:00:00.000Z', promptTokens: 0, completionTokens: 0, totalTokens: 0 },
        { windowStart: '2027-03-03T23:00:00.000Z', windowEnd: '2027-03-04T23:00:00.000Z', promptTokens: 10, completionTokens: 5, totalTokens: 15 },
      ]);
    });

    it('sums exactly to the cycle totals after concurrent records on every write path, over several days', async () => {
      const id = user('hot');
      for (const day of ['2027-03-05T10:00:00Z', '2027-03-06T10:00:00Z', '2027-03-28T23:59:00Z']) {
        clock.set(day);
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 60; i += 1) {
          writes.push(repo.incrementPromptTokens(id, 1 + (i % 7)));
          writes.push(repo.incrementCompletionTokens(id, 2));
          writes.push(repo.incrementTotalUsage(id, 3));
          writes.push(repo.incrementDetailedUsage(id, i, 1, undefined, { idempotencyKey: `k-${day}-${i % 20}` })); // 40 repeats
          writes.push(repo.recordBuffered({ userId: id, promptTokens: 1, completionTokens: 1, totalTokens: 5 }));
          writes.push(
            repo.reserve(id, 10).then((r) => (r.granted ? repo.commit(r.reservation, { promptTokens: 4, completionTokens: 3 }) : null)),
          );
        }
        await Promise.all(writes);
        await repo.flush();
      }
      const stats = await repo.getUsageStats(id, CYCLE);
      const rows = await monthRows(id);
      expect(rows).toHaveLength(31);
      expect(sum(rows)).toEqual(stats);
      expect(rows.filter((row) => row.totalTokens > 0).map((row) => row.windowStart.slice(0, 10))).toEqual([
        '2027-03-04', // Berlin's 5th, 6th and 29th start at 23:00 UTC the day before
        '2027-03-05',
        '2027-03-28',
      ]);
      const [cycleRow] = await repo.usageHistory(id, { from: CYCLE, to: CYCLE, granularity: 'cycle' });
      expect(cycleRow).toEqual({ windowStart: '2027-02-28T23:00:00.000Z', windowEnd: '2027-03-31T22:00:00.000Z', ...stats });
    });

    it('clears the cycle history with a reset, keeps other cycles, and sums again afterwards', async () => {
      const id = user('reset');
      await repo.incrementDetailedUsage(id, 100, 50);
      await repo.incrementDetailedUsage(id, 7, 3, PREVIOUS);
      await Promise.all([repo.resetUsage(id), repo.incrementDetailedUsage(id, 1, 1), repo.incrementDetailedUsage(id, 2, 2)]);
      expect(sum(await monthRows(id))).toEqual(await repo.getUsageStats(id));
      await repo.resetUsage(id);
      expect(sum(await monthRows(id))).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
      clock.set('2027-03-10T12:00:00Z');
      await repo.incrementDetailedUsage(id, 4, 4);
      expect(sum(await monthRows(id))).toEqual({ promptTokens: 4, completionTokens: 4, totalTokens: 8 });
      expect(sum(await monthRows(id, PREVIOUS))).toEqual({ promptTokens: 7, completionTokens: 3, totalTokens: 10 });
    });

    it('puts a late write on the cycle last day and an early one on its first day', async () => {
      const id = user('late');
      await repo.incrementDetailedUsage(id, 5, 0, PREVIOUS); // recorded on March 4th into February
      await repo.incrementDetailedUsage(id, 6, 0, '2027-04-01');
      const february = await monthRows(id, PREVIOUS);
      expect(february.at(-1)?.promptTokens).toBe(5);
      expect(sum(february).promptTokens).toBe(5);
      const april = await repo.usageHistory(id, { from: '2027-04-01', to: '2027-04-02' });
      expect(april.map((row) => row.promptTokens)).toEqual([6, 0]);
    });

    it('refuses bad queries with a ValidationError naming the field', async () => {
      const bad: [Parameters<TokenUsageRepository['usageHistory']>[1], string][] = [
        [{ granularity: 'hour' }, 'granularity'],
        [{ from: '2027-03-10', to: '2027-03-01' }, 'to'],
        [{ from: '2026-01-01', to: '2027-03-01' }, 'to'],
        [{ from: '2027-02-30' }, 'from'],
        [{ timeZone: 'America/New_York' }, 'timeZone'],
        [{ timeZone: 'Mars/Olympus' }, 'timeZone'],
      ];
      for (const [query, field] of bad) {
        const error = await repo.usageHistory('u', query).catch((e: unknown) => e);
        expect(error, JSON.stringify(query)).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field).toBe(field);
      }
      await expect(repo.usageHistory('', {})).rejects.toMatchObject({ code: 'USAGE.INVALID_USER_ID' });
    });

    it('projects the burn rate and the day the limit is reached', async () => {
      const id = user('burn');
      clock.set('2027-03-05T23:00:00Z'); // Berlin midnight: 5 days of the cycle elapsed
      await repo.setUsageLimit(id, 1_000);
      expect(await repo.projectUsage(id)).toMatchObject({ totalTokens: 0, ratePerDay: 0, limit: 1_000, limitReachedOn: null });
      await repo.incrementTotalUsage(id, 250);
      expect(await repo.projectUsage(id)).toEqual({
        cycleStartDate: CYCLE,
        cycleEndDate: '2027-04-01',
        totalTokens: 250,
        ratePerDay: 50,
        // 26 days left, less the DST hour on March 28th
        projectedTotal: Math.round(250 + 50 * (26 - 1 / 24)),
        limit: 1_000,
        limitReachedOn: '2027-03-21', // 750 more at 50 a day: 15 days after the 6th began
      });
      clock.set('2027-03-07T12:00:00Z');
      await repo.incrementTotalUsage(id, 800);
      const over = await repo.projectUsage(id);
      expect(over.limitReachedOn).toBe('2027-03-07');
      const none = await repo.projectUsage(user('free'));
      expect(none).toMatchObject({ limit: null, limitReachedOn: null, totalTokens: 0 });
    });

    it('ranks the cycle users by total tokens over several scan pages', async () => {
      const ids = Array.from({ length: 7 }, (_, i) => user(`top${i}`));
      await Promise.all(ids.map((id, i) => repo.incrementDetailedUsage(id, 1_000_000 + i * 10, i, '2027-01-01')));
      const report = await repo.top('2027-01-01', 3, { batchSize: 2 });
      expect(report.users.map((row) => row.userId)).toEqual([ids[6], ids[5], ids[4]]);
      expect(report.users[0]).toEqual({
        userId: ids[6], cycleStartDate: '2027-01-01', promptTokens: 1_000_060, completionTokens: 6, totalTokens: 1_000_066, limit: null, usedFraction: null,
      });
      expect(report.scanned).toBeGreaterThanOrEqual(7);
      await expect(repo.top('2027-01-01', 0)).rejects.toMatchObject({ code: 'USAGE.INVALID_OPTION', field: 'n' });
      await expect(repo.top('2027-01-01', 3, { by: 'fun' as never })).rejects.toMatchObject({ code: 'USAGE.INVALID_OPTION', field: 'by' });
    });

    it('ranks the users nearest their effective limit (cycle override, else standing), leaving out users without one', async () => {
      const [near, far, override, free] = ['near', 'far', 'override', 'free'].map(user);
      await repo.setUsageLimit(near as string, 1_000);
      await repo.setUsageLimit(far as string, 1_000_000);
      await repo.setUsageLimit(override as string, 1_000_000); // standing, but the cycle override wins
      await repo.setUsageLimit(override as string, 500, '2027-01-01');
      await Promise.all([near, far, override, free].map((id) => repo.incrementTotalUsage(id as string, 450, '2027-01-01')));
      const report = await repo.top('2027-01-01', 10, { by: 'limit', batchSize: 1 });
      expect(report.by).toBe('limit');
      expect(report.users.map((row) => [row.userId, row.limit, row.usedFraction])).toEqual([
        [override, 500, 0.9],
        [near, 1_000, 0.45],
        [far, 1_000_000, 0.00045],
      ]);
      const byTotal = await repo.top('2027-01-01', 10);
      expect(byTotal.users.find((row) => row.userId === near)).toMatchObject({ limit: 1_000, usedFraction: 0.45 });
      expect(byTotal.users.find((row) => row.userId === free)).toMatchObject({ limit: null, usedFraction: null });
    });
  });
}
