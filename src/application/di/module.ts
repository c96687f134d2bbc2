import { ContainerModule } from 'inversify';
import type { Registry } from 'prom-client';
import { LogAlertSink } from '../../adapters/alerts/log-alert-sink.js';
import { WebhookAlertSink } from '../../adapters/alerts/webhook-alert-sink.js';
import { PrometheusMetrics } from '../../adapters/metrics/prometheus-metrics.js';
import { systemClock } from '../../adapters/system-clock.js';
import { AlertMonitor } from '../../domain/alert-monitor.js';
import { CycleCalendar } from '../../domain/billing-cycle.js';
import { ConfigError } from '../../domain/errors.js';
import { LimitPolicy } from '../../domain/limit-policy.js';
import { UsageAccounting } from '../../domain/usage-accounting.js';
import { UsageGuard } from '../../domain/usage-guard.js';
import type { AlertSink } from '../../ports/alert-sink.js';
import type { AlertStateStore } from '../../ports/alert-state-store.js';
import type { Clock } from '../../ports/clock.js';
import type { HealthProbe } from '../../ports/health-probe.js';
import type { Logger } from '../../ports/logger.js';
import type { Metrics } from '../../ports/metrics.js';
import type { UsageStore } from '../../ports/usage-store.js';
import { BufferedUsageRecorder, LazyRecorder } from '../buffered-usage-recorder.js';
import type { TokenUsageConfig } from '../config.js';
import { alertStateOf, composeStore, createAdapters, healthProbeOf, historyOf, inspectorOf } from '../create-store.js';
import type { Adapters } from '../create-store.js';
import { ConsistencyVerifier } from '../../domain/consistency-verifier.js';
import { UsageHistory } from '../../domain/usage-history.js';
import { UsageRanking } from '../../domain/usage-ranking.js';
import type { UsageHistoryStore } from '../../ports/usage-history-store.js';
import type { UsageInspector } from '../../ports/usage-inspector.js';
import type { ServiceIdentifier } from 'inversify';

// Internal bindings: the adapters built together (one set of connections), and a lazy verifier.
const ADAPTERS = Symbol.for('token-usage-repository/internal/Adapters') as ServiceIdentifier<{
  store: UsageStore;
  inspector?: UsageInspector | undefined;
  history?: UsageHistoryStore | undefined;
}>;
const RECORDER = Symbol.for('token-usage-repository/internal/Recorder') as ServiceIdentifier<LazyRecorder>;
const VERIFIER_FACTORY = Symbol.for('token-usage-repository/internal/VerifierFactory') as ServiceIdentifier<
  () => ConsistencyVerifier
>;
const HISTORY_FACTORY = Symbol.for('token-usage-repository/internal/HistoryFactory') as ServiceIdentifier<() => UsageHistory>;
const RANKING_FACTORY = Symbol.for('token-usage-repository/internal/RankingFactory') as ServiceIdentifier<() => UsageRanking>;
import { createDefaultLogger } from '../default-logger.js';
import { TokenUsageRepository } from '../token-usage-repository.js';
import type { TokenUsageServices } from '../token-usage-repository.js';
import { TOKENS } from './tokens.js';

/** What {@link tokenUsageModule} binds; anything given replaces the built-in choice. */
export interface TokenUsageModuleOptions {
  readonly config: TokenUsageConfig;
  /** Default: pino at `config.logLevel`. */
  readonly logger?: Logger;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Default: built from `config.store`. The configured decorators are still put around it. */
  readonly store?: UsageStore;
  /** Raw access to the host store for consistency checks and sweeps (known for our own stores). */
  readonly inspector?: UsageInspector;
  /** Default: a `PrometheusMetrics` on `registry`. */
  readonly metrics?: Metrics;
  /** The prom-client registry for the default metrics; default a private one (never the global). */
  readonly registry?: Registry;
  /** Default: a log sink, plus a webhook sink when `config.alerts.webhookUrl` is set. */
  readonly alertSinks?: readonly AlertSink[];
}

/**
 * An inversify module binding the domain services, the store stack, monitoring and the
 * seed-compatible facade as singletons under {@link TOKENS}. Load it into the host's own container,
 * or use `createTokenUsageRepository` to skip DI entirely.
 */
export function tokenUsageModule(options: TokenUsageModuleOptions): ContainerModule {
  return new ContainerModule(({ bind }) => {
    const { config } = options;
    bind(TOKENS.Config).toConstantValue(config);
    bind(TOKENS.Logger)
      .toResolvedValue(() => options.logger ?? createDefaultLogger(config.logLevel))
      .inSingletonScope();
    bind(TOKENS.Clock).toConstantValue(options.clock ?? systemClock);
    bind(TOKENS.Metrics)
      .toResolvedValue(() => options.metrics ?? new PrometheusMetrics(options.registry === undefined ? {} : { registry: options.registry }))
      .inSingletonScope();

    bind(ADAPTERS)
      .toResolvedValue(
        (clock: Clock, logger: Logger): Adapters | { store: UsageStore; inspector: UsageInspector | undefined; history: UsageHistoryStore | undefined } =>
          options.store === undefined
            ? createAdapters(config, clock, logger)
            : { store: options.store, inspector: options.inspector ?? inspectorOf(options.store), history: historyOf(options.store) },
        [TOKENS.Clock, TOKENS.Logger],
      )
      .inSingletonScope();
    bind(TOKENS.BaseStore)
      .toResolvedValue((adapters: { store: UsageStore }) => adapters.store, [ADAPTERS])
      .inSingletonScope();
    bind(TOKENS.UsageInspector)
      .toResolvedValue((adapters: { inspector?: UsageInspector | undefined }) => adapters.inspector ?? null, [ADAPTERS])
      .inSingletonScope();
    bind(TOKENS.ConsistencyVerifier)
      .toResolvedValue(
        (inspector: UsageInspector | null) => {
          if (inspector === null) throw new ConfigError('inspector', 'consistency checks need a store that can be inspected');
          return new ConsistencyVerifier(inspector);
        },
        [TOKENS.UsageInspector],
      )
      .inSingletonScope();
    bind(TOKENS.UsageStore)
      .toResolvedValue(
        (base: UsageStore, metrics: Metrics, clock: Clock, logger: Logger) =>
          composeStore(base, config, { metrics, clock, logger }),
        [TOKENS.BaseStore, TOKENS.Metrics, TOKENS.Clock, TOKENS.Logger],
      )
      .inSingletonScope();
    bind(TOKENS.HealthProbe)
      .toResolvedValue((base: UsageStore) => healthProbeOf(base), [TOKENS.BaseStore])
      .inSingletonScope();
    bind(TOKENS.AlertStateStore)
      .toResolvedValue(
        (base: UsageStore) => {
          const state = alertStateOf(base);
          if (state === undefined) throw new ConfigError('alerts.enabled', 'the store cannot claim alert thresholds');
          return state;
        },
        [TOKENS.BaseStore],
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

    bind(TOKENS.AlertSinks)
      .toResolvedValue(
        (logger: Logger): readonly AlertSink[] => {
          if (options.alertSinks !== undefined) return options.alertSinks;
          const sinks: AlertSink[] = [new LogAlertSink(logger.child({ component: 'alerts' }))];
          const { webhookUrl, webhookSecret } = config.alerts;
          if (webhookUrl !== undefined) {
            sinks.push(new WebhookAlertSink({ url: webhookUrl, ...(webhookSecret === undefined ? {} : { secret: webhookSecret }) }));
          }
          return sinks;
        },
        [TOKENS.Logger],
      )
      .inSingletonScope();
    if (config.alerts.enabled) {
      bind(TOKENS.AlertMonitor)
        .toResolvedValue(
          (
            state: AlertStateStore,
            calendar: CycleCalendar,
            sinks: readonly AlertSink[],
            inspector: UsageInspector | null,
            clock: Clock,
            logger: Logger,
            metrics: Metrics,
          ) =>
            new AlertMonitor(
              state,
              calendar,
              { sinks, thresholds: config.alerts.thresholds, ...(inspector === null ? {} : { inspector }) },
              clock,
              logger.child({ component: 'alerts' }),
              metrics,
            ),
          [
            TOKENS.AlertStateStore,
            TOKENS.CycleCalendar,
            TOKENS.AlertSinks,
            TOKENS.UsageInspector,
            TOKENS.Clock,
            TOKENS.Logger,
            TOKENS.Metrics,
          ],
        )
        .inSingletonScope();
    } else {
      bind(TOKENS.AlertMonitor).toConstantValue(null);
    }

    bind(RECORDER)
      .toResolvedValue(
        (store: UsageStore, accounting: UsageAccounting, logger: Logger, metrics: Metrics, monitor: AlertMonitor | null) =>
          new LazyRecorder(
            () =>
              new BufferedUsageRecorder(store, accounting, config.buffer, logger.child({ component: 'buffer' }), {
                metrics,
                ...(monitor === null ? {} : { onWritten: (command) => void monitor.observe(command.userId, command.cycle.start) }),
              }),
          ),
        [TOKENS.UsageStore, TOKENS.UsageAccounting, TOKENS.Logger, TOKENS.Metrics, TOKENS.AlertMonitor],
      )
      .inSingletonScope();
    bind(TOKENS.BufferedUsageRecorder)
      .toResolvedValue((recorder: LazyRecorder) => recorder.get(), [RECORDER])
      .inSingletonScope();
    bind(VERIFIER_FACTORY).toFactory((context) => () => context.get(TOKENS.ConsistencyVerifier));
    bind(TOKENS.UsageHistory)
      .toResolvedValue(
        (adapters: { history?: UsageHistoryStore | undefined }, store: UsageStore, calendar: CycleCalendar, clock: Clock) => {
          if (adapters.history === undefined) throw new ConfigError('store', 'usage history needs a store with daily rollups');
          return new UsageHistory(store, adapters.history, calendar, clock);
        },
        [ADAPTERS, TOKENS.UsageStore, TOKENS.CycleCalendar, TOKENS.Clock],
      )
      .inSingletonScope();
    bind(TOKENS.UsageRanking)
      .toResolvedValue(
        (inspector: UsageInspector | null, calendar: CycleCalendar) => {
          if (inspector === null) throw new ConfigError('inspector', 'top users need a store that can be inspected');
          return new UsageRanking(inspector, calendar);
        },
        [TOKENS.UsageInspector, TOKENS.CycleCalendar],
      )
      .inSingletonScope();
    bind(HISTORY_FACTORY).toFactory((context) => () => context.get(TOKENS.UsageHistory));
    bind(RANKING_FACTORY).toFactory((context) => () => context.get(TOKENS.UsageRanking));

    bind(TOKENS.TokenUsageServices)
      .toResolvedValue(
        (
          accounting: UsageAccounting,
          limits: LimitPolicy,
          guard: UsageGuard,
          store: UsageStore,
          logger: Logger,
          metrics: Metrics,
          clock: Clock,
          monitor: AlertMonitor | null,
          health: HealthProbe,
          recorder: LazyRecorder,
          verifier: () => ConsistencyVerifier,
          calendar: CycleCalendar,
          history: () => UsageHistory,
          ranking: () => UsageRanking,
        ): TokenUsageServices => ({
            accounting,
            limits,
            guard,
            store,
            logger,
            metrics,
            clock,
            monitor: monitor ?? undefined,
            health,
            healthTimeoutMs: config.healthTimeoutMs,
            recorder,
            verifier,
            calendar,
            history,
            ranking,
          }),
        [
          TOKENS.UsageAccounting,
          TOKENS.LimitPolicy,
          TOKENS.UsageGuard,
          TOKENS.UsageStore,
          TOKENS.Logger,
          TOKENS.Metrics,
          TOKENS.Clock,
          TOKENS.AlertMonitor,
          TOKENS.HealthProbe,
          RECORDER,
          VERIFIER_FACTORY,
          TOKENS.CycleCalendar,
          HISTORY_FACTORY,
          RANKING_FACTORY,
        ],
      )
      .inSingletonScope();
    bind(TOKENS.TokenUsageRepository)
      .toResolvedValue((services: TokenUsageServices) => new TokenUsageRepository(services), [TOKENS.TokenUsageServices])
      .inSingletonScope();
  });
}
