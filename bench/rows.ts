/**
 * The benchmark rows: our library's paths and the baselines a user would otherwise pick. Every
 * Redis row gets its client from the library's own `createRedisClient` (the options the facade
 * uses: command timeout, no offline-queue resend, ...), one connection per row, so the client
 * options are identical; `enableAutoPipelining` is switched for all rows alike.
 */
import { Container } from 'inversify';
import type { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { BufferedRecorderOptions } from '../src/application/buffered-usage-recorder.js';
import type { TokenUsageConfigInput } from '../src/application/config.js';
import type { TokenUsageRepository } from '../src/application/token-usage-repository.js';
import type { Logger } from '../src/ports/logger.js';
import type { UsageStore } from '../src/ports/usage-store.js';
import type { Library } from './lib.js';
import type { Op } from './load.js';

export const USERS = 10_000;
/** Token counts of one record: prompt 100, completion 50 (total 150). */
export const PROMPT = 100;
export const COMPLETION = 50;
/** A standing limit far above anything the benchmark records, so every reservation is granted. */
export const HUGE_LIMIT = 1_000_000_000_000_000;

export interface BenchContext {
  readonly redisUrl: string;
  readonly autoPipelining: boolean;
  /** `u0` .. `u9999`, built once. */
  readonly users: readonly string[];
  /** The facade's current cycle (monthly, UTC): `YYYY-MM-01`, for the raw-ioredis keys. */
  readonly cycleDate: string;
  /** A client for setup and checks (FLUSHALL, reads); never used inside a timed window. */
  readonly admin: Redis;
  /** The library under test (compiled src/ by default, see lib.ts). */
  readonly lib: Library;
  /** A pino logger at level silent, from the library's default-logger factory. */
  readonly logger: Logger;
}

export interface RowInstance {
  readonly op: Op;
  /** Runs inside the timed window after the last op (the buffered recorder's final flush). */
  readonly finish?: () => Promise<void>;
  /** Untimed setup after the database was flushed (e.g. standing limits). */
  readonly seed?: () => Promise<void>;
  /**
   * Untimed check after a cell: how many records of PROMPT+COMPLETION tokens the store holds for
   * the benchmark's users, to compare with the ops run (catches silently lost writes).
   */
  readonly recordedRecords?: () => Promise<number>;
  close(): Promise<void>;
}

export interface Row {
  readonly id: string;
  readonly label: string;
  readonly redis: boolean;
  /** Shown in the table for context; no target is judged on it. */
  readonly informational?: boolean;
  readonly note: string;
  open(ctx: BenchContext): Promise<RowInstance>;
}

function configInput(ctx: BenchContext): TokenUsageConfigInput {
  return { redis: { url: ctx.redisUrl }, logLevel: 'silent' };
}

/** The library's client factory with the row-wide auto-pipelining choice applied. */
function benchClient(ctx: BenchContext): Redis {
  const config = ctx.lib.resolveConfig(configInput(ctx));
  const client = ctx.lib.createRedisClient(config.redis, ctx.logger);
  // createRedisClient has no option for it; ioredis reads the flag on every call, so set it here.
  client.options.enableAutoPipelining = ctx.autoPipelining;
  return client;
}

/** The store the DI module would build (src/application/create-store.ts), on a bench client. */
function benchRedisStore(ctx: BenchContext): UsageStore {
  const config = ctx.lib.resolveConfig(configInput(ctx));
  return new ctx.lib.RedisUsageStore({
    clients: [benchClient(ctx)],
    ownsClients: true,
    prefix: config.keyPrefix,
    hashTags: config.hashTags,
    retryReadsOnTimeout: config.redis.retryOnTimeout,
  });
}

/**
 * `createTokenUsageRepository` with the real Redis configuration. Without auto-pipelining this is
 * exactly the public one-call path; with it, the same path plus an injected store whose client has
 * the flag set (the only way a user can turn it on today).
 */
function redisRepository(ctx: BenchContext): TokenUsageRepository {
  if (!ctx.autoPipelining) return ctx.lib.createTokenUsageRepository({ config: configInput(ctx) });
  return ctx.lib.createTokenUsageRepository({ config: configInput(ctx), store: benchRedisStore(ctx), logger: ctx.logger });
}

async function quit(client: Redis): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** Sum of total_tokens over the benchmark users' cycle hashes, in records of PROMPT+COMPLETION. */
async function recordsInRedis(ctx: BenchContext): Promise<number> {
  const pipeline = ctx.admin.pipeline();
  for (const user of ctx.users) pipeline.hget(`token_usage:${user}:${ctx.cycleDate}`, 'total_tokens');
  const replies = (await pipeline.exec()) ?? [];
  let total = 0;
  for (const [error, value] of replies) {
    if (error !== null) throw error;
    total += Number(value ?? 0);
  }
  return total / (PROMPT + COMPLETION);
}

/** Sets the standing limit of every benchmark user (untimed), through the facade. */
async function seedLimits(repo: TokenUsageRepository, users: readonly string[]): Promise<void> {
  const batch = 1_000;
  for (let from = 0; from < users.length; from += batch) {
    await Promise.all(users.slice(from, from + batch).map((user) => repo.setUsageLimit(user, HUGE_LIMIT)));
  }
}

const facade: Row = {
  id: 'facade',
  label: 'facade incrementDetailedUsage',
  redis: true,
  note: 'createTokenUsageRepository (real Redis config, logLevel silent); one op = incrementDetailedUsage(user, 100, 50): validation, cycle, keys, one EVALSHA of the record script',
  async open(ctx) {
    const repo = redisRepository(ctx);
    const { users } = ctx;
    return {
      op: (i) => repo.incrementDetailedUsage(users[i % USERS] as string, PROMPT, COMPLETION),
      recordedRecords: () => recordsInRedis(ctx),
      close: () => repo.close(),
    };
  },
};

const reserveCommit: Row = {
  id: 'reserve+commit',
  label: 'reserve+commit',
  redis: true,
  note: 'one op = reserve(user, 200) then commit(reservation, {100, 50}) under a standing limit that always grants (two EVALSHAs in sequence)',
  async open(ctx) {
    const repo = redisRepository(ctx);
    const { users } = ctx;
    return {
      seed: () => seedLimits(repo, users),
      op: async (i) => {
        const result = await repo.reserve(users[i % USERS] as string, 200);
        if (!result.granted) throw new Error(`reserve denied: ${result.reason}`);
        await repo.commit(result.reservation, { promptTokens: PROMPT, completionTokens: COMPLETION });
      },
      recordedRecords: () => recordsInRedis(ctx),
      close: () => repo.close(),
    };
  },
};

const reserveOnly: Row = {
  id: 'reserve',
  label: 'reserve',
  redis: true,
  note: 'one op = reserve(user, 200) under a standing limit that always grants (one EVALSHA; leases are left to expire, the database is flushed before each cell)',
  async open(ctx) {
    const repo = redisRepository(ctx);
    const { users } = ctx;
    return {
      seed: () => seedLimits(repo, users),
      op: async (i) => {
        const result = await repo.reserve(users[i % USERS] as string, 200);
        if (!result.granted) throw new Error(`reserve denied: ${result.reason}`);
      },
      close: () => repo.close(),
    };
  },
};

/** The one user of the lease rows (its keys are the only ones those rows touch). */
const HOT_USER = 'hot-user';

/**
 * reserve(HOT_USER, 1) with a 1 ms lease (pruned by the next reserves, so the user's live leases stay
 * at what was seeded) beside `liveLeases` leases of one hour, seeded untimed.
 */
function leaseRow(id: string, liveLeases: number): Row {
  return {
    id,
    label: `reserve, one user, ${liveLeases.toLocaleString('en-US')} live leases`,
    redis: true,
    informational: false,
    note: `one op = reserve('${HOT_USER}', 1, { leaseMs: 1 }) under a standing limit that always grants, for ONE user who holds ${liveLeases.toLocaleString('en-US')} other live leases (seeded untimed, one hour each); its own lease expires at once and is pruned by a later reserve`,
    async open(ctx) {
      const repo = redisRepository(ctx);
      return {
        seed: async () => {
          await repo.setUsageLimit(HOT_USER, HUGE_LIMIT);
          for (let from = 0; from < liveLeases; from += 500) {
            await Promise.all(
              Array.from({ length: Math.min(500, liveLeases - from) }, () => repo.reserve(HOT_USER, 1, { leaseMs: 3_600_000 })),
            );
          }
        },
        op: async () => {
          const result = await repo.reserve(HOT_USER, 1, { leaseMs: 1 });
          if (!result.granted) throw new Error(`reserve denied: ${result.reason}`);
        },
        close: () => repo.close(),
      };
    },
  };
}

const reserveNoLeases = leaseRow('reserve-0-leases', 0);
const reserveManyLeases = leaseRow('reserve-1000-leases', 1_000);

function bufferedRow(id: string, label: string, options: Partial<BufferedRecorderOptions>, informational: boolean, note: string): Row {
  return {
    id,
    label,
    redis: true,
    informational,
    note,
    async open(ctx) {
      const config = ctx.lib.resolveConfig(configInput(ctx));
      const container = new Container();
      container.load(
        ctx.lib.tokenUsageModule({
          config,
          logger: ctx.logger,
          ...(ctx.autoPipelining ? { store: benchRedisStore(ctx) } : {}),
        }),
      );
      const store: UsageStore = container.get(ctx.lib.TOKENS.UsageStore);
      const accounting = container.get(ctx.lib.TOKENS.UsageAccounting);
      const recorder = new ctx.lib.BufferedUsageRecorder(store, accounting, options, ctx.logger);
      const { users } = ctx;
      return {
        op: (i) => recorder.record({ userId: users[i % USERS] as string, promptTokens: PROMPT, completionTokens: COMPLETION }),
        finish: () => recorder.flush(),
        recordedRecords: () => recordsInRedis(ctx),
        close: async () => {
          await recorder.close({ timeoutMs: 10_000 });
          await store.close();
        },
      };
    },
  };
}

const buffered = bufferedRow(
  'buffered',
  'buffered recorder',
  {},
  false,
  'new BufferedUsageRecorder(store, accounting, DEFAULT options: maxBatchRecords 1,000,000, flushIntervalMs 1000, highWaterMark 50,000) from the DI container; one op = one record(); ops/s = records/s including the final flush(); latency = record() acknowledgement (buffered, not yet in Redis)',
);

const inMemory: Row = {
  id: 'memory',
  label: 'in-memory store',
  redis: false,
  note: "createTokenUsageRepository({ store: 'memory' }); one op = incrementDetailedUsage(user, 100, 50)",
  async open(ctx) {
    const repo = ctx.lib.createTokenUsageRepository({ config: { store: 'memory', logLevel: 'silent' } });
    return {
      op: (i) => repo.incrementDetailedUsage(USER_IDS[i % USERS] as string, PROMPT, COMPLETION),
      close: () => repo.close(),
    };
  },
};

const seedNaive: Row = {
  id: 'seed-naive',
  label: 'baseline: seed-naive (3 HINCRBY pipeline)',
  redis: true,
  note: "raw ioredis, the Python seed's recording: pipeline().hincrby(prompt).hincrby(completion).hincrby(total).exec() per op (not atomic, no validation, no TTL)",
  async open(ctx) {
    const client = benchClient(ctx);
    const { users, cycleDate } = ctx;
    return {
      op: (i) => {
        const key = `token_usage:${users[i % USERS] as string}:${cycleDate}`;
        return client
          .pipeline()
          .hincrby(key, 'prompt_tokens', PROMPT)
          .hincrby(key, 'completion_tokens', COMPLETION)
          .hincrby(key, 'total_tokens', PROMPT + COMPLETION)
          .exec();
      },
      recordedRecords: () => recordsInRedis(ctx),
      close: () => quit(client),
    };
  },
};

const oneCommand: Row = {
  id: 'ioredis-1cmd',
  label: 'baseline: ioredis-1cmd (1 HINCRBY)',
  redis: true,
  note: 'raw ioredis, one plain HINCRBY total_tokens per op: the fastest a single round trip goes from one Node process',
  async open(ctx) {
    const client = benchClient(ctx);
    const { users, cycleDate } = ctx;
    return {
      op: (i) => client.hincrby(`token_usage:${users[i % USERS] as string}:${cycleDate}`, 'total_tokens', PROMPT + COMPLETION),
      recordedRecords: () => recordsInRedis(ctx),
      close: () => quit(client),
    };
  },
};

const pipelinedCommand: Row = {
  id: 'ioredis-pipelined',
  label: 'limit: ioredis HINCRBY, auto-pipelined',
  redis: true,
  informational: true,
  note: 'physical limit of one Node process: raw ioredis with enableAutoPipelining forced on, one HINCRBY total_tokens per op; every command issued in one event-loop turn goes out in one write (what our coalesced script calls approach, with one Lua call per turn instead of N commands)',
  async open(ctx) {
    const client = benchClient(ctx);
    client.options.enableAutoPipelining = true;
    const { users, cycleDate } = ctx;
    return {
      op: (i) => client.hincrby(`token_usage:${users[i % USERS] as string}:${cycleDate}`, 'total_tokens', PROMPT + COMPLETION),
      recordedRecords: () => recordsInRedis(ctx),
      close: () => quit(client),
    };
  },
};

const CAPTURE_USER = 'BENCHCAPTUREUSER';

/**
 * The exact keys and arguments the facade passes to the record script for one
 * incrementDetailedUsage(user, 100, 50), captured by intercepting the script command on the client
 * (nothing is sent), so the diagnostic row and redis-benchmark follow the script's current contract.
 * Keys contain `userPlaceholder` where the user id goes.
 */
export async function captureRecordCall(ctx: BenchContext): Promise<{ keys: string[]; args: string[]; userPlaceholder: string }> {
  const config = ctx.lib.resolveConfig(configInput(ctx));
  const client = benchClient(ctx);
  const store = new ctx.lib.RedisUsageStore({ clients: [client], ownsClients: true, prefix: config.keyPrefix, hashTags: config.hashTags });
  const script = ctx.lib.recordUsageScript;
  let captured: string[] | undefined;
  (client as unknown as Record<string, unknown>)[script.name] = (...keysThenArgs: string[]) => {
    captured = keysThenArgs;
    return Promise.resolve([0, String(PROMPT), String(COMPLETION), String(PROMPT + COMPLETION)]);
  };
  const repo = ctx.lib.createTokenUsageRepository({ config: configInput(ctx), store, logger: ctx.logger });
  await repo.incrementDetailedUsage(CAPTURE_USER, PROMPT, COMPLETION);
  await repo.close();
  client.disconnect();
  if (captured === undefined) throw new Error('the facade did not call the record script');
  return {
    keys: captured.slice(0, script.numberOfKeys),
    args: captured.slice(script.numberOfKeys),
    userPlaceholder: CAPTURE_USER,
  };
}

const rawScript: Row = {
  id: 'raw-script',
  label: 'diagnostic: raw ioredis record script',
  redis: true,
  informational: true,
  note: "raw ioredis calling our record script (`defineCommand` of src/adapters/redis/scripts/record-usage.ts, one EVALSHA) with exactly the keys and arguments the facade sends (captured from it), but none of our code around it (no validation, calendar, keys built per call, DI, metrics): facade / this = what our layers cost",
  async open(ctx) {
    const client = benchClient(ctx);
    const script = ctx.lib.recordUsageScript;
    client.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
    const call = (client as unknown as Record<string, (...args: string[]) => Promise<unknown>>)[script.name];
    if (call === undefined) throw new Error('defineCommand did not add the script');
    const shape = await captureRecordCall(ctx);
    // Keys per user built once (the facade builds them per call; that is part of what it costs).
    const perUser = ctx.users.map((user) => [...shape.keys.map((k) => k.split(shape.userPlaceholder).join(user)), ...shape.args]);
    return {
      op: (i) => call.apply(client, perUser[i % USERS] as string[]),
      recordedRecords: () => recordsInRedis(ctx),
      close: () => quit(client),
    };
  },
};

const rateLimiterFlexible: Row = {
  id: 'rlf',
  label: 'baseline: rate-limiter-flexible consume',
  redis: true,
  note: 'RateLimiterRedis({ storeClient: ioredis, points: 1e15, duration: 3600 }) (v11, ioredis via defineCommand: one EVALSHA of its incr+ttl script); one op = consume(user, 1), never rejected',
  async open(ctx) {
    const client = benchClient(ctx);
    const limiter = new RateLimiterRedis({ storeClient: client, points: HUGE_LIMIT, duration: 3_600, keyPrefix: 'rlflx' });
    const { users } = ctx;
    return {
      op: (i) => limiter.consume(users[i % USERS] as string, 1),
      close: () => quit(client),
    };
  },
};

export const USER_IDS: readonly string[] = Array.from({ length: USERS }, (_, i) => `u${i}`);

export const ROWS: readonly Row[] = [
  facade,
  reserveCommit,
  reserveOnly,
  reserveNoLeases,
  reserveManyLeases,
  buffered,
  inMemory,
  seedNaive,
  oneCommand,
  rateLimiterFlexible,
  rawScript,
  pipelinedCommand,
];
