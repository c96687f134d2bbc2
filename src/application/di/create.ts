import { Container } from 'inversify';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { UsageStore } from '../../ports/usage-store.js';
import type { AlertSink } from '../../ports/alert-sink.js';
import type { Metrics } from '../../ports/metrics.js';
import type { Registry } from 'prom-client';
import { resolveConfig } from '../config.js';
import type { TokenUsageConfigInput } from '../config.js';
import { configFromEnv } from '../env-config.js';
import { TokenUsageRepository } from '../token-usage-repository.js';
import { tokenUsageModule } from './module.js';
import { TOKENS } from './tokens.js';

/** Options of {@link createTokenUsageRepository}. */
export interface CreateTokenUsageRepositoryOptions {
  /** Configuration object; when absent, the configuration is read from `env`. */
  readonly config?: TokenUsageConfigInput;
  /** Environment to read when `config` is absent. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Use this store instead of building one from the configuration. */
  readonly store?: UsageStore;
  /** Use these metrics instead of a `PrometheusMetrics` on a private registry. */
  readonly metrics?: Metrics;
  /** The prom-client registry for the default metrics (merge ours into the host's). */
  readonly registry?: Registry;
  /** Replace the default alert sinks (a log sink, plus a webhook when configured). */
  readonly alertSinks?: readonly AlertSink[];
}

/** Builds a ready repository in one call, without touching DI. Throws `ConfigError` on bad settings. */
export function createTokenUsageRepository(options: CreateTokenUsageRepositoryOptions = {}): TokenUsageRepository {
  return createContainer(options).get(TOKENS.TokenUsageRepository);
}

/**
 * A repository configured from `process.env` on its first call (so importing the package never
 * throws or connects), like the seed's global `token_usage_repo`.
 */
export function createLazyTokenUsageRepository(
  options: Omit<CreateTokenUsageRepositoryOptions, 'config'> = {},
): TokenUsageRepository {
  return new TokenUsageRepository(() => createContainer(options).get(TOKENS.TokenUsageServices));
}

function createContainer(options: CreateTokenUsageRepositoryOptions): Container {
  const config = options.config === undefined ? configFromEnv(options.env) : resolveConfig(options.config);
  const container = new Container();
  container.load(
    tokenUsageModule({
      config,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.store === undefined ? {} : { store: options.store }),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.registry === undefined ? {} : { registry: options.registry }),
      ...(options.alertSinks === undefined ? {} : { alertSinks: options.alertSinks }),
    }),
  );
  return container;
}
