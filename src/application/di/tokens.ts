import type { ServiceIdentifier } from 'inversify';
import type { CycleCalendar } from '../../domain/billing-cycle.js';
import type { LimitPolicy } from '../../domain/limit-policy.js';
import type { UsageAccounting } from '../../domain/usage-accounting.js';
import type { UsageGuard } from '../../domain/usage-guard.js';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { UsageStore } from '../../ports/usage-store.js';
import type { TokenUsageConfig } from '../config.js';
import type { TokenUsageRepository } from '../token-usage-repository.js';

/** Service identifiers of everything the module binds. `Symbol.for`, so two copies of the package agree. */
export const TOKENS = {
  Config: Symbol.for('token-usage-repository/Config') as ServiceIdentifier<TokenUsageConfig>,
  Logger: Symbol.for('token-usage-repository/Logger') as ServiceIdentifier<Logger>,
  Clock: Symbol.for('token-usage-repository/Clock') as ServiceIdentifier<Clock>,
  UsageStore: Symbol.for('token-usage-repository/UsageStore') as ServiceIdentifier<UsageStore>,
  CycleCalendar: Symbol.for('token-usage-repository/CycleCalendar') as ServiceIdentifier<CycleCalendar>,
  UsageAccounting: Symbol.for('token-usage-repository/UsageAccounting') as ServiceIdentifier<UsageAccounting>,
  LimitPolicy: Symbol.for('token-usage-repository/LimitPolicy') as ServiceIdentifier<LimitPolicy>,
  UsageGuard: Symbol.for('token-usage-repository/UsageGuard') as ServiceIdentifier<UsageGuard>,
  TokenUsageRepository: Symbol.for(
    'token-usage-repository/TokenUsageRepository',
  ) as ServiceIdentifier<TokenUsageRepository>,
} as const;
