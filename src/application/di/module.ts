import { ContainerModule } from 'inversify';
import { systemClock } from '../../adapters/system-clock.js';
import { CycleCalendar } from '../../domain/billing-cycle.js';
import { LimitPolicy } from '../../domain/limit-policy.js';
import { UsageAccounting } from '../../domain/usage-accounting.js';
import { UsageGuard } from '../../domain/usage-guard.js';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { UsageStore } from '../../ports/usage-store.js';
import type { TokenUsageConfig } from '../config.js';
import { createUsageStore } from '../create-store.js';
import { createDefaultLogger } from '../default-logger.js';
import { TokenUsageRepository } from '../token-usage-repository.js';
import { TOKENS } from './tokens.js';

/** What {@link tokenUsageModule} binds; anything given replaces the built-in choice. */
export interface TokenUsageModuleOptions {
  readonly config: TokenUsageConfig;
  /** Default: pino at `config.logLevel`. */
  readonly logger?: Logger;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Default: built from `config.store` (a host may pass its own store or a decorated one). */
  readonly store?: UsageStore;
}

/**
 * An inversify module binding the domain services, the store and the seed-compatible facade as
 * singletons under {@link TOKENS}. Load it into the host's own container, or use
 * `createTokenUsageRepository` to skip DI entirely.
 */
export function tokenUsageModule(options: TokenUsageModuleOptions): ContainerModule {
  return new ContainerModule(({ bind }) => {
    const { config } = options;
    bind(TOKENS.Config).toConstantValue(config);
    bind(TOKENS.Logger)
      .toResolvedValue(() => options.logger ?? createDefaultLogger(config.logLevel))
      .inSingletonScope();
    bind(TOKENS.Clock).toConstantValue(options.clock ?? systemClock);
    bind(TOKENS.UsageStore)
      .toResolvedValue(
        (clock: Clock, logger: Logger) => options.store ?? createUsageStore(config, clock, logger),
        [TOKENS.Clock, TOKENS.Logger],
      )
      .inSingletonScope();
    bind(TOKENS.CycleCalendar)
      .toResolvedValue((clock: Clock) => new CycleCalendar(clock, config.cycle), [TOKENS.Clock])
      .inSingletonScope();
    bind(TOKENS.UsageAccounting)
      .toResolvedValue(
        (store: UsageStore, calendar: CycleCalendar) => new UsageAccounting(store, calendar, config.enforcement),
        [TOKENS.UsageStore, TOKENS.CycleCalendar],
      )
      .inSingletonScope();
    bind(TOKENS.LimitPolicy)
      .toResolvedValue(
        (store: UsageStore, calendar: CycleCalendar, clock: Clock, logger: Logger) =>
          new LimitPolicy(store, calendar, config.enforcement, clock, logger),
        [TOKENS.UsageStore, TOKENS.CycleCalendar, TOKENS.Clock, TOKENS.Logger],
      )
      .inSingletonScope();
    bind(TOKENS.UsageGuard)
      .toResolvedValue((limits: LimitPolicy, logger: Logger) => new UsageGuard(limits, logger), [
        TOKENS.LimitPolicy,
        TOKENS.Logger,
      ])
      .inSingletonScope();
    bind(TOKENS.TokenUsageRepository)
      .toResolvedValue(
        (accounting: UsageAccounting, limits: LimitPolicy, guard: UsageGuard, store: UsageStore, logger: Logger) =>
          new TokenUsageRepository({ accounting, limits, guard, store, logger }),
        [TOKENS.UsageAccounting, TOKENS.LimitPolicy, TOKENS.UsageGuard, TOKENS.UsageStore, TOKENS.Logger],
      )
      .inSingletonScope();
  });
}
