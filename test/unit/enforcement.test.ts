import { describe, expect, it } from 'vitest';
import { CorruptUsageDataError, isUsageError, StoreUnavailableError, ValidationError } from '../../src/index.js';
import type { Reservation } from '../../src/index.js';
import { switchableRepository } from '../support/repositories.js';

function granted(result: Awaited<ReturnType<ReturnType<typeof switchableRepository>['repo']['reserve']>>): Reservation {
  if (!result.granted) throw new Error(`expected a grant, got ${JSON.stringify(result)}`);
  return result.reservation;
}

describe('reserve → commit / release (LimitPolicy through the facade, in-memory store, fake clock)', () => {
  it('grants with reason no-limit when no limit applies, and within-limit under one', async () => {
    const { repo } = switchableRepository();
    expect(await repo.reserve('u', 10)).toMatchObject({ granted: true, reason: 'no-limit' });
    await repo.setUsageLimit('u', 100);
    const result = await repo.reserve('u', 10);
    expect(result).toMatchObject({ granted: true, reason: 'within-limit' });
    expect(granted(result)).toMatchObject({ userId: 'u', cycleStartDate: '2024-01-01', tokens: 10, degraded: false });
    expect(granted(result).expiresAt).toBe(Date.parse('2024-01-15T12:00:00Z') + 300_000);
  });

  it('returns a denial value with the numbers', async () => {
    const { repo } = switchableRepository();
    await repo.setUsageLimit('u', 100);
    await repo.incrementDetailedUsage('u', 30, 10);
    await repo.reserve('u', 50);
    expect(await repo.reserve('u', 11)).toEqual({
      granted: false,
      reason: 'limit-exceeded',
      currentUsage: 40,
      reserved: 50,
      limit: 100,
      remaining: 10,
    });
  });

  it('commit records the actual usage (even above the estimate) into the reserved cycle and frees the lease', async () => {
    const { repo, clock } = switchableRepository();
    await repo.setUsageLimit('u', 1_000);
    const reservation = granted(await repo.reserve('u', 100));
    clock.set('2024-02-01T00:00:01Z'); // the call straddled the cycle boundary
    const outcome = await repo.commit(reservation, { promptTokens: 90, completionTokens: 40 });
    expect(outcome).toEqual({ duplicate: false, counters: { promptTokens: 90, completionTokens: 40, totalTokens: 130 }, alerts: [] });
    expect(await repo.getUsageStats('u', '2024-01-01')).toEqual({ promptTokens: 90, completionTokens: 40, totalTokens: 130 });
    expect(await repo.canConsume('u', 0, '2024-01-01')).toMatchObject({ reserved: 0, currentUsage: 130 });
  });

  it('committing the same reservation twice counts once', async () => {
    const { repo } = switchableRepository();
    const reservation = granted(await repo.reserve('u', 100));
    await repo.commit(reservation, { promptTokens: 10, completionTokens: 5 });
    expect(await repo.commit(reservation, { promptTokens: 10, completionTokens: 5 })).toMatchObject({ duplicate: true });
    expect((await repo.getUsageStats('u')).totalTokens).toBe(15);
  });

  it('a caller idempotency key on commit dedupes across reservations (a retried request)', async () => {
    const { repo } = switchableRepository();
    const first = granted(await repo.reserve('u', 100));
    const retry = granted(await repo.reserve('u', 100));
    await repo.commit(first, { promptTokens: 10, completionTokens: 5 }, { idempotencyKey: 'resp_1' });
    expect(await repo.commit(retry, { promptTokens: 10, completionTokens: 5 }, { idempotencyKey: 'resp_1' })).toMatchObject({
      duplicate: true,
    });
    expect((await repo.getUsageStats('u')).totalTokens).toBe(15);
  });

  it('a commit with totalTokens records the part not broken down, and refuses a total below prompt + completion', async () => {
    const { repo } = switchableRepository();
    const reservation = granted(await repo.reserve('u', 100));
    await expect(repo.commit(reservation, { promptTokens: 10, completionTokens: 5, totalTokens: 14 })).rejects.toMatchObject({
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'totalTokens',
    });
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 100, currentUsage: 0 });
    await repo.commit(reservation, { promptTokens: 10, completionTokens: 5, totalTokens: 20 });
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 10, completionTokens: 5, totalTokens: 20 });
  });

  it('release frees the tokens once', async () => {
    const { repo } = switchableRepository();
    await repo.setUsageLimit('u', 100);
    const reservation = granted(await repo.reserve('u', 100));
    expect((await repo.reserve('u', 1)).granted).toBe(false);
    expect(await repo.release(reservation)).toBe(true);
    expect(await repo.release(reservation)).toBe(false);
    expect((await repo.reserve('u', 100)).granted).toBe(true);
  });

  it('a lease stops counting when it expires (fake clock), and a per-call lease overrides the default', async () => {
    const { repo, clock } = switchableRepository({ enforcement: { leaseMs: 60_000 } });
    await repo.setUsageLimit('u', 100);
    granted(await repo.reserve('u', 100));
    granted(await repo.reserve('v', 100, { leaseMs: 1_000 }));
    clock.advance(59_999);
    expect((await repo.reserve('u', 1)).granted).toBe(false);
    expect(await repo.canConsume('v', 0)).toMatchObject({ reserved: 0 });
    clock.advance(1);
    expect(await repo.reserve('u', 100)).toMatchObject({ granted: true });
  });

  it('canConsume counts reservations, holds nothing, and reports Infinity without a limit', async () => {
    const { repo } = switchableRepository();
    expect(await repo.canConsume('u', 1_000_000)).toEqual({
      allowed: true,
      reason: 'no-limit',
      currentUsage: 0,
      reserved: 0,
      limit: 0,
      remaining: Number.POSITIVE_INFINITY,
    });
    await repo.setUsageLimit('u', 100);
    await repo.incrementTotalUsage('u', 30);
    await repo.reserve('u', 50);
    expect(await repo.canConsume('u', 20)).toEqual({
      allowed: true,
      reason: 'within-limit',
      currentUsage: 30,
      reserved: 50,
      limit: 100,
      remaining: 20,
    });
    expect(await repo.canConsume('u', 21)).toMatchObject({ allowed: false, reason: 'limit-exceeded', remaining: 20 });
    expect(await repo.canConsume('u', 20)).toMatchObject({ reserved: 50 }); // nothing was held by the checks
  });

  it.each([
    ['negative tokens', (r: ReturnType<typeof switchableRepository>['repo']) => r.reserve('u', -1), 'tokens'],
    ['fractional tokens', (r: ReturnType<typeof switchableRepository>['repo']) => r.reserve('u', 1.5), 'tokens'],
    ['a zero lease', (r: ReturnType<typeof switchableRepository>['repo']) => r.reserve('u', 1, { leaseMs: 0 }), 'leaseMs'],
    ['a bad user', (r: ReturnType<typeof switchableRepository>['repo']) => r.reserve('', 1), 'userId'],
    ['a bad date', (r: ReturnType<typeof switchableRepository>['repo']) => r.reserve('u', 1, { cycleStartDate: '2024-13-01' }), 'cycleStartDate'],
    ['a negative request', (r: ReturnType<typeof switchableRepository>['repo']) => r.canConsume('u', -5), 'requestedTokens'],
  ])('rejects %s with a ValidationError and holds nothing', async (_name, call, field) => {
    const { repo } = switchableRepository();
    await expect(call(repo)).rejects.toMatchObject({ name: 'ValidationError', field });
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 0 });
  });

  it.each([
    ['not an object', 'nope', 'reservation'],
    ['no id', { userId: 'u', cycleStartDate: '2024-01-01', tokens: 1, expiresAt: 0, degraded: false }, 'reservation.id'],
    ['a bad user', { id: 'x', userId: '', cycleStartDate: '2024-01-01', tokens: 1, expiresAt: 0, degraded: false }, 'reservation.userId'],
    ['a bad date', { id: 'x', userId: 'u', cycleStartDate: '2024-02-30', tokens: 1, expiresAt: 0, degraded: false }, 'reservation.cycleStartDate'],
    ['negative tokens', { id: 'x', userId: 'u', cycleStartDate: '2024-01-01', tokens: -1, expiresAt: 0, degraded: false }, 'reservation.tokens'],
    ['no degraded flag', { id: 'x', userId: 'u', cycleStartDate: '2024-01-01', tokens: 1, expiresAt: 0 }, 'reservation.degraded'],
  ])('commit and release reject a reservation that is %s, writing nothing', async (_name, handle, field) => {
    const { repo } = switchableRepository();
    const commit = await repo.commit(handle as never, { promptTokens: 5 }).catch((e: unknown) => e);
    expect(commit).toBeInstanceOf(ValidationError);
    expect(commit).toMatchObject({ field });
    await expect(repo.release(handle as never)).rejects.toBeInstanceOf(ValidationError);
    expect((await repo.getUsageStats('u')).totalTokens).toBe(0);
  });
});

describe('failure policy when the store is unreachable', () => {
  it('fail-closed (the default) denies with reason store-unavailable and unknown numbers, never "0 used"', async () => {
    const { repo, store, logger } = switchableRepository();
    store.down = true;
    expect(await repo.reserve('u', 10)).toEqual({
      granted: false,
      reason: 'store-unavailable',
      currentUsage: null,
      reserved: null,
      limit: null,
      remaining: null,
    });
    expect(await repo.canConsume('u', 10)).toEqual({
      allowed: false,
      reason: 'store-unavailable',
      currentUsage: null,
      reserved: null,
      limit: null,
      remaining: null,
    });
    expect(logger.lines.filter((line) => line.level === 'warn').map((line) => line.fields['failurePolicy'])).toEqual([
      'fail-closed',
      'fail-closed',
    ]);
  });

  it('fail-open allows, says so, logs it, and still records the usage on commit once the store is back', async () => {
    const { repo, store, logger } = switchableRepository({ enforcement: { failurePolicy: 'fail-open' } });
    await repo.incrementTotalUsage('u', 7);
    store.down = true;
    const result = await repo.reserve('u', 10);
    expect(result).toMatchObject({ granted: true, reason: 'store-unavailable', reservation: { degraded: true } });
    expect(await repo.canConsume('u', 10)).toMatchObject({ allowed: true, reason: 'store-unavailable', currentUsage: null });
    expect(logger.lines.some((line) => line.level === 'warn' && line.fields['failurePolicy'] === 'fail-open')).toBe(true);
    store.down = false;
    const reservation = granted(result);
    expect(await repo.release(reservation)).toBe(false); // nothing was held
    await repo.commit(reservation, { promptTokens: 3, completionTokens: 2 });
    await repo.commit(reservation, { promptTokens: 3, completionTokens: 2 });
    expect((await repo.getUsageStats('u')).totalTokens).toBe(12); // the 7 recorded before are intact
  });

  it('throw rethrows the StoreUnavailableError', async () => {
    const { repo, store } = switchableRepository({ enforcement: { failurePolicy: 'throw' } });
    store.down = true;
    await expect(repo.reserve('u', 10)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(repo.canConsume('u', 10)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('corrupt data is never treated as unavailability: it is thrown under every policy', async () => {
    for (const failurePolicy of ['fail-open', 'fail-closed', 'throw'] as const) {
      const { repo, store } = switchableRepository({ enforcement: { failurePolicy } });
      store.inner.reserve = async () => {
        throw new CorruptUsageDataError('k', 'total_tokens', 'corrupt');
      };
      await expect(repo.reserve('u', 1)).rejects.toSatisfy((e) => isUsageError(e, 'USAGE.CORRUPT_DATA'));
    }
  });

  it('a commit while the store is down throws and records nothing; a retry after recovery counts once', async () => {
    const { repo, store } = switchableRepository();
    const reservation = granted(await repo.reserve('u', 10));
    store.down = true;
    await expect(repo.commit(reservation, { promptTokens: 4 })).rejects.toBeInstanceOf(StoreUnavailableError);
    store.down = false;
    expect(await repo.getUsageStats('u')).toMatchObject({ totalTokens: 0 });
    await repo.commit(reservation, { promptTokens: 4 });
    await repo.commit(reservation, { promptTokens: 4 });
    expect(await repo.getUsageStats('u')).toMatchObject({ promptTokens: 4, totalTokens: 4 });
  });
});
