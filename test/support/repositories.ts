import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import type { TokenUsageConfigInput } from '../../src/application/config.js';
import { createTokenUsageRepository } from '../../src/application/di/create.js';
import type { TokenUsageRepository } from '../../src/application/token-usage-repository.js';
import { FakeClock } from './fake-clock.js';
import { SwitchableStore } from './failing-store.js';
import { RecordingLogger } from './recording-logger.js';

/** A repository on an in-memory store behind a switch that can make the store "unavailable". */
export function switchableRepository(config: TokenUsageConfigInput = {}, clock = new FakeClock('2024-01-15T12:00:00Z')): {
  repo: TokenUsageRepository;
  store: SwitchableStore;
  clock: FakeClock;
  logger: RecordingLogger;
} {
  const logger = new RecordingLogger();
  const store = new SwitchableStore(new InMemoryUsageStore({ clock }));
  const repo = createTokenUsageRepository({ config: { store: 'memory', ...config }, store, clock, logger });
  return { repo, store, clock, logger };
}
