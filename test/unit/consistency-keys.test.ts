import { ConfigError } from '../../src/domain/errors.js';
import { describe, expect, it } from 'vitest';
import { createKeyBuilder } from '../../src/adapters/redis/keys.js';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import { userId } from '../../src/domain/user-id.js';
import { anIdempotencyKey } from '../support/mothers.js';

const CYCLE = cycleStart('2024-01-01');

describe.each([false, true])('cycle keys for the verifier (hashTags %s)', (hashTags) => {
  const keys = createKeyBuilder({ prefix: 'token_usage', hashTags });

  it.each(['user_123', 'a:b', 'x:2024-01-01', '{t}', 'a}b{c', 'idem', 'policy', ':', 'ü ✓'])(
    'parses back the user and cycle of %j',
    (id) => {
      const user = userId(id);
      expect(keys.parseCycleKey(keys.cycle(user, CYCLE))).toEqual({ userId: user, cycle: CYCLE });
    },
  );

  it('parses no other kind of key', () => {
    const user = userId('u:2024-01-01');
    for (const key of [
      keys.policy(user),
      keys.leases(user, CYCLE),
      keys.alerts(user, CYCLE),
      keys.leaseTotal(user, CYCLE),
      keys.daily(user, CYCLE),
      keys.alertedCycles(user),
      keys.idempotency(user, anIdempotencyKey()),
      keys.health(),
      'other_prefix:u:2024-01-01',
      'token_usage:u:2024-02-30', // not a calendar date
      'token_usage::2024-01-01', // empty user id
      hashTags ? 'token_usage:u:2024-01-01' : 'token_usage:2024-01-01',
    ]) {
      expect(keys.parseCycleKey(key), key).toBeNull();
    }
  });

  it('builds a SCAN pattern for one cycle or any cycle', () => {
    const user = hashTags ? '{*}' : '*';
    expect(keys.cyclePattern(CYCLE)).toBe(`token_usage:${user}:2024-01-01`);
    expect(keys.cyclePattern()).toBe(`token_usage:${user}:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]`);
  });
});

it('refuses a prefix with glob characters, braces or colons', () => {
  for (const prefix of ['a*b', 'a?', '[c]', 'a\\', '{a}', 'a:b', '']) {
    expect(() => createKeyBuilder({ prefix, hashTags: false })).toThrow(ConfigError);
  }
});

it('percent-encodes braces and % inside the hash tag, so every key of a user shares one non-empty tag', () => {
  const keys = createKeyBuilder({ prefix: 'p', hashTags: true });
  for (const id of ['}evil', '{x}', 'a}b{c', '50%', '%7D']) {
    const user = userId(id);
    const all = [
      keys.cycle(user, CYCLE),
      keys.policy(user),
      keys.leases(user, CYCLE),
      keys.alerts(user, CYCLE),
      keys.leaseTotal(user, CYCLE),
      keys.daily(user, CYCLE),
      keys.alertedCycles(user),
      keys.idempotency(user, 'c:k' as never),
    ];
    const tags = all.map((key) => /\{([^}]*)\}/.exec(key)?.[1]);
    expect(new Set(tags).size).toBe(1);
    expect(tags[0]).not.toBe('');
    expect(keys.parseCycleKey(keys.cycle(user, CYCLE))).toEqual({ userId: id, cycle: CYCLE });
  }
  expect(keys.cycle(userId('}evil'), CYCLE)).toBe('p:{%7Devil}:2024-01-01');
  expect(keys.cycle(userId('%7D'), CYCLE)).not.toBe(keys.cycle(userId('}'), CYCLE));
});
