import { createLazyTokenUsageRepository } from './application/di/create.js';
import type { TokenUsageRepository } from './application/token-usage-repository.js';

export { TokenUsageRepository } from './application/token-usage-repository.js';
export type {
  RecordOptions,
  ReserveCallOptions,
  TokenUsageServices,
} from './application/token-usage-repository.js';
export { createTokenUsageRepository, createLazyTokenUsageRepository } from './application/di/create.js';
export type { CreateTokenUsageRepositoryOptions } from './application/di/create.js';
export { DEFAULT_CONFIG, resolveConfig } from './application/config.js';
export type {
  LogLevel,
  RedisConfig,
  StoreKind,
  TokenUsageConfig,
  TokenUsageConfigInput,
} from './application/config.js';
export { configFromEnv, ENV_NAMES } from './application/env-config.js';

export {
  ConfigError,
  CorruptUsageDataError,
  isUsageError,
  QuotaExceededError,
  StoreUnavailableError,
  UsageError,
  ValidationError,
} from './domain/errors.js';
export type { DenialReason, UsageErrorCode } from './domain/errors.js';
export { CycleCalendar, cycleStart, CYCLE_POLICIES } from './domain/billing-cycle.js';
export type { BillingCycle, CycleCalendarOptions, CyclePolicy, CycleStart } from './domain/billing-cycle.js';
export { tokenCount, usageLimit } from './domain/token-count.js';
export type { TokenCount, UsageLimit } from './domain/token-count.js';
export { MAX_USER_ID_LENGTH, userId } from './domain/user-id.js';
export type { UserId } from './domain/user-id.js';
export { UsageAccounting } from './domain/usage-accounting.js';
export type { RecordUsageInput } from './domain/usage-accounting.js';
export { actualUsage, effectiveLimit, limitCheck, LimitPolicy } from './domain/limit-policy.js';
export type { EnforcementOptions, LimitCheck, ReserveOptions } from './domain/limit-policy.js';
export { FAILURE_POLICIES, reservationFrom } from './domain/reservation.js';
export type {
  ActualUsage,
  ConsumeCheck,
  FailurePolicy,
  GrantReason,
  QuotaDenial,
  Reservation,
  ReserveResult,
} from './domain/reservation.js';
export { callerIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from './domain/idempotency.js';
export type { IdempotencyKey } from './domain/idempotency.js';
export { UsageGuard } from './domain/usage-guard.js';
export type { GuardOptions } from './domain/usage-guard.js';
export { defaultUsageExtractor } from './domain/usage-extractor.js';
export type { UsageExtractor } from './domain/usage-extractor.js';

export type { Clock } from './ports/clock.js';
export type { Logger, LogMethod } from './ports/logger.js';
export type {
  CycleRef,
  LeaseRef,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageCounters,
  UsageSnapshot,
  UsageStore,
} from './ports/usage-store.js';

export { InMemoryUsageStore } from './adapters/memory/in-memory-usage-store.js';
export { RedisUsageStore } from './adapters/redis/redis-usage-store.js';
export type { RedisUsageStoreOptions } from './adapters/redis/redis-usage-store.js';
export { createRedisClient } from './adapters/redis/redis-connection.js';
export type { RedisConnectionOptions } from './adapters/redis/redis-connection.js';
export { systemClock } from './adapters/system-clock.js';

/**
 * The default instance, like the seed's global `token_usage_repo`: configured from `process.env` on
 * its first call and connecting lazily, so importing the package never throws or connects.
 */
export const tokenUsageRepo: TokenUsageRepository = createLazyTokenUsageRepository();
