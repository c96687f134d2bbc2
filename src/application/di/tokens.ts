import type { ServiceIdentifier } from 'inversify';
import type { AlertMonitor } from '../../domain/alert-monitor.js';
import type { ConsistencyVerifier } from '../../domain/consistency-verifier.js';
import type { UsageInspector } from '../../ports/usage-inspector.js';
import type { UsageHistory } from '../../domain/usage-history.js';
import type { UsageRanking } from '../../domain/usage-ranking.js';
import type { CycleCalendar } from '../../domain/billing-cycle.js';
import type { LimitPolicy } from '../../domain/limit-policy.js';
import type { UsageAccounting } from '../../domain/usage-accounting.js';
import type { UsageGuard } from '../../domain/usage-guard.js';
import type { AlertSink } from '../../ports/alert-sink.js';
import type { AlertStateStore } from '../../ports/alert-state-store.js';
import type { Clock } from '../../ports/clock.js';
import type { HealthProbe } from '../../ports/health-probe.js';
import type { Logger } from '../../ports/logger.js';
import type { Metrics } from '../../ports/metrics.js';
import type { UsageStore } from '../../ports/usage-store.js';
import type { BufferedUsageRecorder } from '../buffered-usage-recorder.js';
import type { TokenUsageConfig } from '../config.js';
import type { TokenUsageRepository, TokenUsageServices } from '../token-usage-repository.js';

const token = <T>(name: string): ServiceIdentifier<T> => Symbol.for(`token-usage-repository/${name}`) as ServiceIdentifier<T>;

/** Service identifiers of everything the module binds. `Symbol.for`, so two copies of the package agree. */
export const TOKENS = {
  Config: token<TokenUsageConfig>('Config'),
  Logger: token<Logger>('Logger'),
  Clock: token<Clock>('Clock'),
  Metrics: token<Metrics>('Metrics'),
  /** The adapter itself (Redis or in-memory, or the host's), before any decorator. */
  BaseStore: token<UsageStore>('BaseStore'),
  /** The decorated stack every service uses: metered, retrying and caching as configured. */
  UsageStore: token<UsageStore>('UsageStore'),
  AlertStateStore: token<AlertStateStore>('AlertStateStore'),
  /** Raw access for consistency checks and alert sweeps, or `null` for a host store without one. */
  UsageInspector: token<UsageInspector | null>('UsageInspector'),
  ConsistencyVerifier: token<ConsistencyVerifier>('ConsistencyVerifier'),
  HealthProbe: token<HealthProbe>('HealthProbe'),
  /** Daily/cycle history and burn-rate projections (throws `ConfigError` for a store without rollups). */
  UsageHistory: token<UsageHistory>('UsageHistory'),
  /** Top users of a cycle, by SCAN (throws `ConfigError` for a store that cannot be inspected). */
  UsageRanking: token<UsageRanking>('UsageRanking'),
  AlertSinks: token<readonly AlertSink[]>('AlertSinks'),
  /** The monitor, or `null` when alerts are off. */
  AlertMonitor: token<AlertMonitor | null>('AlertMonitor'),
  CycleCalendar: token<CycleCalendar>('CycleCalendar'),
  UsageAccounting: token<UsageAccounting>('UsageAccounting'),
  LimitPolicy: token<LimitPolicy>('LimitPolicy'),
  UsageGuard: token<UsageGuard>('UsageGuard'),
  /** The buffered recorder (built on first resolution; it starts a flush timer); `repo.close()` flushes it. */
  BufferedUsageRecorder: token<BufferedUsageRecorder>('BufferedUsageRecorder'),
  /** Everything the facade delegates to. */
  TokenUsageServices: token<TokenUsageServices>('TokenUsageServices'),
  TokenUsageRepository: token<TokenUsageRepository>('TokenUsageRepository'),
} as const;
