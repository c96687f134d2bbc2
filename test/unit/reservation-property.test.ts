import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import { LimitPolicy } from '../../src/domain/limit-policy.js';
import type { Reservation } from '../../src/domain/reservation.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

const LIMIT = 1_000;
const LEASE_MS = 1_000;

type Step =
  | { kind: 'reserve'; tokens: number }
  | { kind: 'commit'; pick: number; fraction: number }
  | { kind: 'release'; pick: number }
  | { kind: 'advance'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('reserve' as const), tokens: fc.integer({ min: 0, max: 400 }) }),
  fc.record({ kind: fc.constant('commit' as const), pick: fc.nat(), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1_500 }) }),
);

describe('reservations never overspend (property, in-memory store, fake clock)', () => {
  it('keeps used + reserved <= limit over any interleaving of reserve / commit / release / expiry', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => {
        const clock = new FakeClock('2024-01-15T12:00:00Z');
        const store = new InMemoryUsageStore({ clock });
        const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
        const limits = new LimitPolicy(
          store,
          calendar,
          { leaseMs: LEASE_MS, dedupeWindowMs: 86_400_000, failurePolicy: 'throw' },
          clock,
          new RecordingLogger(),
        );
        await limits.setLimit('u', LIMIT);
        let live: Reservation[] = [];
        for (const s of steps) {
          // A call whose lease lapsed was abandoned: all usage here goes through live reservations.
          live = live.filter((reservation) => reservation.expiresAt > clock.now());
          if (s.kind === 'reserve') {
            const result = await limits.reserve('u', s.tokens);
            if (result.granted) live.push(result.reservation);
          } else if (s.kind === 'advance') {
            clock.advance(s.ms);
          } else if (live.length > 0) {
            const [reservation] = live.splice(s.pick % live.length, 1) as [Reservation];
            if (s.kind === 'commit') {
              const actual = Math.floor(reservation.tokens * s.fraction);
              await limits.commit(reservation, { promptTokens: actual });
            } else {
              await limits.release(reservation);
            }
          }
          const check = await limits.canConsume('u', 0);
          expect((check.currentUsage ?? 0) + (check.reserved ?? 0)).toBeLessThanOrEqual(LIMIT);
        }
      }),
      { numRuns: 300 },
    );
  });
});
