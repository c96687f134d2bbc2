import { afterEach, describe, expect, it } from 'vitest';
import { createTokenUsageRepository, ValidationError } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';

function reservationOf(result: Awaited<ReturnType<TokenUsageRepository['reserve']>>) {
  if (!result.granted) throw new Error(`expected a grant, got ${JSON.stringify(result)}`);
  return result.reservation;
}

function idempotentReserveSuite(make: () => TokenUsageRepository): void {
  let repo: TokenUsageRepository;
  afterEach(async () => repo.close());

  it('a re-sent reserve with the same key holds its tokens once and returns the same reservation', async () => {
    repo = make();
    await repo.setUsageLimit('ann', 100);
    const first = reservationOf(await repo.reserve('ann', 60, { idempotencyKey: 'req-1' }));
    // 60 + 60 > 100: granted again only because it is the same request, not a second hold.
    const again = reservationOf(await repo.reserve('ann', 60, { idempotencyKey: 'req-1' }));
    expect(again.id).toBe(first.id);
    expect(first.id).toMatch(/^idem-[0-9a-f]{64}$/);
    expect(await repo.canConsume('ann', 40)).toMatchObject({ allowed: true, reserved: 60 });
    expect(await repo.canConsume('ann', 41)).toMatchObject({ allowed: false, reserved: 60 });
    // Either handle commits the one reservation, once.
    expect((await repo.commit(first, { promptTokens: 30, completionTokens: 20 })).duplicate).toBe(false);
    expect((await repo.commit(again, { promptTokens: 30, completionTokens: 20 })).duplicate).toBe(true);
    expect(await repo.canConsume('ann', 50)).toMatchObject({ allowed: true, currentUsage: 50, reserved: 0 });
  });

  it('different keys are different reservations; no key is a fresh one every time', async () => {
    repo = make();
    await repo.setUsageLimit('bob', 100);
    const a = reservationOf(await repo.reserve('bob', 40, { idempotencyKey: 'a' }));
    const b = reservationOf(await repo.reserve('bob', 40, { idempotencyKey: 'b' }));
    expect(a.id).not.toBe(b.id);
    expect((await repo.reserve('bob', 40)).granted).toBe(false);
    expect(await repo.canConsume('bob', 0)).toMatchObject({ reserved: 80 });
  });

  it('the same key with other tokens, or in another cycle, is another reservation: each commit counts once', async () => {
    repo = make();
    const small = reservationOf(await repo.reserve('dan', 40, { idempotencyKey: 'shared' }));
    const large = reservationOf(await repo.reserve('dan', 60, { idempotencyKey: 'shared' }));
    const other = reservationOf(await repo.reserve('dan', 40, { idempotencyKey: 'shared', cycleStartDate: '2024-01-01' }));
    expect(new Set([small.id, large.id, other.id]).size).toBe(3);
    expect(await repo.canConsume('dan', 0)).toMatchObject({ reserved: 100 });
    expect((await repo.commit(small, { promptTokens: 10, completionTokens: 5 })).duplicate).toBe(false);
    expect((await repo.commit(large, { promptTokens: 20, completionTokens: 5 })).duplicate).toBe(false);
    expect((await repo.commit(other, { promptTokens: 1, completionTokens: 1 })).duplicate).toBe(false);
    expect(await repo.canConsume('dan', 0)).toMatchObject({ currentUsage: 40, reserved: 0 });
    expect((await repo.getUsageStats('dan', '2024-01-01')).totalTokens).toBe(2);
  });

  it('a bad key is a ValidationError that holds nothing', async () => {
    repo = make();
    for (const idempotencyKey of ['', 'x'.repeat(257), 42, 'a\u0000b', '\ud800']) {
      const error = await repo.reserve('cat', 10, { idempotencyKey } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe('USAGE.INVALID_IDEMPOTENCY_KEY');
    }
    expect(await repo.canConsume('cat', 0)).toMatchObject({ reserved: 0 });
  });
}

describe('reserve with an idempotency key (in-memory store)', () => {
  idempotentReserveSuite(() => createTokenUsageRepository({ config: { store: 'memory' }, logger: new RecordingLogger() }));
});

describeRedis('reserve with an idempotency key (real Redis)', () => {
  idempotentReserveSuite(() =>
    createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: uniquePrefix() }, logger: new RecordingLogger() }),
  );
});
