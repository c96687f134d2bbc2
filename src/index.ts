import { createLazyTokenUsageRepository } from './application/di/create.js';
import type { TokenUsageRepository } from './application/token-usage-repository.js';

export { TokenUsageRepository } from './application/token-usage-repository.js';
export type {
  HealthReport,
  RecordOptions,
  RecordResult,
  ReserveCallOptions,
  TokenUsageServices,
} from './application/token-usage-repository.js';
export { BufferedUsageRecorder, DEFAULT_BUFFERED_RECORDER_OPTIONS } from './application/buffered-usage-recorder.js';
export type { BufferedRecorderOptions, DeadLetter } from './application/buffered-usage-recorder.js';
export { installShutdownHooks } from './application/shutdown.js';
export type { ShutdownHookOptions } from './application/shutdown.js';
export { createTokenUsageRepository, createLazyTokenUsageRepository } from './application/di/create.js';
export type { CreateTokenUsageRepositoryOptions } from './application/di/create.js';
export { DEFAULT_CONFIG, resolveConfig } from './application/config.js';
export type {
  AlertsConfig,
  BufferConfig,
  CacheConfig,
  LogLevel,
  RedisConfig,
  RetryConfig,
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
export { MAX_HISTORY_WINDOWS, UsageHistory } from './domain/usage-history.js';
export type { HistoryGranularity, UsageHistoryQuery, UsageProjection, UsageWindow } from './domain/usage-history.js';
export { UsageRanking } from './domain/usage-ranking.js';
export type { TopOptions, TopOrder, TopReport, TopUser, UsagePages, UserCycleUsage } from './domain/usage-ranking.js';
export { AlertMonitor, alertThresholds, DEFAULT_ALERT_THRESHOLDS } from './domain/alert-monitor.js';
export type { AlertThreshold, SweepProgress, SweepReport } from './domain/alert-monitor.js';
export { ConsistencyVerifier, MAX_BATCH_SIZE } from './domain/consistency-verifier.js';
export type {
  ConsistencyVerifierOptions,
  Finding,
  FindingKind,
  RecordLocation,
  Repair,
  SkippedRepair,
  VerificationProgress,
  VerificationReport,
  VerifyCycleOptions,
  VerifyOptions,
} from './domain/consistency-verifier.js';
export type { FieldChange, FieldFinding } from './domain/consistency-rules.js';
export type { GuardOptions } from './domain/usage-guard.js';
export { defaultUsageExtractor } from './domain/usage-extractor.js';
export type { UsageExtractor } from './domain/usage-extractor.js';

export type { Clock } from './ports/clock.js';
export type { AlertLevel, AlertSink, UsageAlert } from './ports/alert-sink.js';
export type { AlertStateStore, SyncThresholdsCommand, SyncThresholdsOutcome } from './ports/alert-state-store.js';
export type { HealthProbe, StoreHealth } from './ports/health-probe.js';
export type { Metrics, OperationName, OperationOutcome, StoreErrorKind, TokenType } from './ports/metrics.js';
export type {
  InspectedRecord,
  InspectedTarget,
  RawFields,
  RepairCommand,
  RepairOutcome,
  ScanCyclesOptions,
  UsageInspector,
} from './ports/usage-inspector.js';
export type { Logger, LogMethod } from './ports/logger.js';
export type { DailyUsage, UsageHistoryStore } from './ports/usage-history-store.js';
export type {
  BatchRecordResult,
  CycleRef,
  LeaseRef,
  ReadOptions,
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
export { RedisUsageInspector } from './adapters/redis/redis-usage-inspector.js';
export type { RedisUsageInspectorOptions } from './adapters/redis/redis-usage-inspector.js';
export { InMemoryUsageInspector } from './adapters/memory/in-memory-usage-inspector.js';
export { InMemoryUsageHistoryStore } from './adapters/memory/in-memory-usage-history-store.js';
export { RedisUsageHistoryStore } from './adapters/redis/redis-usage-history-store.js';
export type { RedisUsageHistoryStoreOptions } from './adapters/redis/redis-usage-history-store.js';
export { RetryingUsageStore, isTransientStoreError } from './adapters/decorators/retrying-usage-store.js';
export type { RetryingUsageStoreOptions } from './adapters/decorators/retrying-usage-store.js';
export { CachingUsageStore } from './adapters/decorators/caching-usage-store.js';
export type { CachingUsageStoreOptions } from './adapters/decorators/caching-usage-store.js';
export { MeteredUsageStore } from './adapters/decorators/metered-usage-store.js';
export { LogAlertSink } from './adapters/alerts/log-alert-sink.js';
export { WEBHOOK_EVENT_TYPE, WebhookAlertSink, WebhookDeliveryError } from './adapters/alerts/webhook-alert-sink.js';
export type { FetchLike, WebhookAlertSinkOptions } from './adapters/alerts/webhook-alert-sink.js';
export { CallbackAlertSink, EmitterAlertSink } from './adapters/alerts/callback-alert-sink.js';
export type { AlertCallback, AlertEvents } from './adapters/alerts/callback-alert-sink.js';
export { DEFAULT_DURATION_BUCKETS, PrometheusMetrics } from './adapters/metrics/prometheus-metrics.js';
export type { PrometheusMetricsOptions } from './adapters/metrics/prometheus-metrics.js';
export { NoopMetrics } from './adapters/metrics/noop-metrics.js';

/**
 * The default instance, like the seed's global `token_usage_repo`: configured from `process.env` on
 * its first call and connecting lazily, so importing the package never throws or connects.
 */
export const tokenUsageRepo: TokenUsageRepository = createLazyTokenUsageRepository();
