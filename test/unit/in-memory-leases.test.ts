import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import type { LeaseRef } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { aCycle, aLimit, aReserve, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';

const cycle = aCycle(CYCLE, null);

describe('InMemoryUsageStore running reserved total', () => {
  it('a re-sent reserve of the same lease counts it once', async () => {
    const store = new InMemoryUsageStore({ clock: new FakeClock() });
    const user = aUserId();
    const request = aReserve(user, 40, 60_000, cycle);
    await store.reserve(request);
    // The repeat does not count against itself (the other leases hold nothing), and is held once.
    expect(await store.reserve(request)).toMatchObject({ granted: true, reservedTokens: 0 });
    expect(await store.reserve(aReserve(user, 1, 60_000, cycle))).toMatchObject({ reservedTokens: 40 });
  });

  it('never denies because of an expired lease, whatever the lease durations and the size of the backlog', async () => {
    const clock = new FakeClock();
    const store = new InMemoryUsageStore({ clock });
    const user = aUserId();
    await store.reserve(aReserve(user, 1, 1_000_000, cycle)); // a long lease first, so front pruning stops at it
    for (let i = 0; i < 300; i += 1) await store.reserve(aReserve(user, 10, 10, cycle));
    clock.advance(20);
    await store.setLimit(aLimit(user, 101));
    expect(await store.reserve(aReserve(user, 100, 60_000, cycle))).toMatchObject({ granted: true, reservedTokens: 1 });
    expect((await store.readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(101);
  });

  it('matches a recount of the live leases after any sequence of reserves, commits, releases and time steps', async () => {
    type Step = { kind: 'reserve'; tokens: number; leaseMs: number } | { kind: 'commit' | 'release'; pick: number } | { kind: 'tick'; ms: number };
    const aStep: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), tokens: fc.nat(50), leaseMs: fc.constantFrom(1, 5, 50, 1_000) }),
      fc.record({ kind: fc.constantFrom('commit' as const, 'release' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.nat(60) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(aStep, { maxLength: 300 }), fc.integer({ min: 0, max: 400 }), async (steps, limit) => {
        const clock = new FakeClock();
        const store = new InMemoryUsageStore({ clock });
        const user = aUserId();
        if (limit > 0) await store.setLimit(aLimit(user, limit));
        const leases: { lease: LeaseRef; expiresAt: number }[] = [];
        let used = 0;
        const liveSum = (): number => leases.filter((l) => l.expiresAt > clock.now()).reduce((sum, l) => sum + l.lease.tokens, 0);
        for (const step of steps) {
          if (step.kind === 'tick') clock.advance(step.ms);
          if (step.kind === 'reserve') {
            const request = aReserve(user, step.tokens, step.leaseMs, cycle);
            const expected = limit === 0 || used + liveSum() + step.tokens <= limit;
            const outcome = await store.reserve(request);
            expect(outcome.granted).toBe(expected);
            if (!expected) expect(outcome.reservedTokens).toBe(liveSum());
            if (outcome.granted) leases.push({ lease: request.lease, expiresAt: outcome.expiresAt });
          }
          if ((step.kind === 'commit' || step.kind === 'release') && leases.length > 0) {
            const [picked] = leases.splice(step.pick % leases.length, 1);
            if (step.kind === 'release') await store.releaseLease({ userId: user, cycle: CYCLE, lease: picked!.lease });
            else {
              await store.recordUsage(aUsageRecord({ userId: user, cycle, prompt: 1, completion: 0, releaseLease: picked!.lease }));
              used += 1;
            }
          }
          expect((await store.readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(liveSum());
        }
      }),
      { numRuns: 100 },
    );
  });
});
