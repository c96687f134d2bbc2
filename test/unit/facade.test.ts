import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { tokenUsageModule, TOKENS } from '../../src/application/di/index.js';
import { resolveConfig } from '../../src/application/config.js';
import {
  ConfigError,
  createLazyTokenUsageRepository,
  createTokenUsageRepository,
  InMemoryUsageStore,
  isUsageError,
  TokenUsageRepository,
  tokenUsageRepo,
  ValidationError,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

function memoryRepository(clock = new FakeClock('2024-01-15T12:00:00Z'), logger = new RecordingLogger()) {
  const repo = createTokenUsageRepository({ config: { store: 'memory' }, clock, logger });
  return { repo, clock, logger };
}

describe('TokenUsageRepository (seed-compatible facade) on the in-memory store', () => {
  it('records detailed, prompt, completion and total-only usage with a consistent total', async () => {
    const { repo } = memoryRepository();
    await repo.incrementDetailedUsage('user_123', 150, 75, '2024-01-01');
    await repo.incrementPromptTokens('user_123', 10, '2024-01-01');
    await repo.incrementCompletionTokens('user_123', 5, '2024-01-01');
    await repo.incrementTotalUsage('user_123', 100, '2024-01-01');
    expect(await repo.getUsageStats('user_123', '2024-01-01')).toEqual({
      promptTokens: 160,
      completionTokens: 80,
      totalTokens: 340,
    });
  });

  it('uses the current monthly cycle when no date is given', async () => {
    const { repo, clock } = memoryRepository();
    await repo.incrementDetailedUsage('u', 1, 1);
    expect((await repo.getUsageStats('u', '2024-01-01')).totalTokens).toBe(2);
    clock.set('2024-02-01T00:00:00Z');
    expect((await repo.getUsageStats('u')).totalTokens).toBe(0);
    expect((await repo.getUsageStats('u', '2024-01-01')).totalTokens).toBe(2);
  });

  it('applies a standing limit to every cycle and a dated limit to its cycle only', async () => {
    const { repo } = memoryRepository();
    await repo.setUsageLimit('u', 1_000);
    await repo.setUsageLimit('u', 300, '2024-02-01');
    await repo.incrementTotalUsage('u', 250, '2024-01-01');
    await repo.incrementTotalUsage('u', 250, '2024-02-01');
    expect(await repo.checkUsageLimit('u', '2024-01-01')).toEqual({
      exceeded: false,
      currentUsage: 250,
      limit: 1_000,
      remaining: 750,
    });
    expect(await repo.checkUsageLimit('u', '2024-02-01')).toEqual({
      exceeded: false,
      currentUsage: 250,
      limit: 300,
      remaining: 50,
    });
    await repo.incrementTotalUsage('u', 50, '2024-02-01');
    expect(await repo.checkUsageLimit('u', '2024-02-01')).toEqual({
      exceeded: true,
      currentUsage: 300,
      limit: 300,
      remaining: 0,
    });
    await repo.setUsageLimit('u', 0, '2024-02-01'); // removes the override: the standing limit applies
    expect((await repo.checkUsageLimit('u', '2024-02-01')).limit).toBe(1_000);
  });

  it('reports no limit as limit 0 and remaining Infinity, never exceeded', async () => {
    const { repo } = memoryRepository();
    await repo.incrementTotalUsage('u', 10_000_000);
    expect(await repo.checkUsageLimit('u')).toEqual({
      exceeded: false,
      currentUsage: 10_000_000,
      limit: 0,
      remaining: Number.POSITIVE_INFINITY,
    });
  });

  it('reset clears usage but keeps both limits', async () => {
    const { repo } = memoryRepository();
    await repo.setUsageLimit('u', 500);
    await repo.setUsageLimit('u', 100, '2024-01-01');
    await repo.incrementDetailedUsage('u', 60, 60, '2024-01-01');
    await repo.resetUsage('u', '2024-01-01');
    expect(await repo.checkUsageLimit('u', '2024-01-01')).toEqual({
      exceeded: false,
      currentUsage: 0,
      limit: 100,
      remaining: 100,
    });
  });

  it('treats a count of 0 as a valid no-op', async () => {
    const { repo } = memoryRepository();
    await repo.incrementDetailedUsage('u', 0, 0);
    await repo.incrementPromptTokens('u', 0);
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it.each([
    ['negative prompt', (r: TokenUsageRepository) => r.incrementDetailedUsage('u', -1, 5), 'promptTokens'],
    ['fractional completion', (r: TokenUsageRepository) => r.incrementDetailedUsage('u', 5, 1.5), 'completionTokens'],
    ['NaN total', (r: TokenUsageRepository) => r.incrementTotalUsage('u', Number.NaN), 'totalTokens'],
    ['string tokens', (r: TokenUsageRepository) => r.incrementPromptTokens('u', '5' as never), 'promptTokens'],
    ['empty user', (r: TokenUsageRepository) => r.incrementDetailedUsage('', 5, 5), 'userId'],
    ['impossible date', (r: TokenUsageRepository) => r.incrementDetailedUsage('u', 5, 5, '2024-02-30'), 'cycleStartDate'],
    ['negative limit', (r: TokenUsageRepository) => r.setUsageLimit('u', -10), 'limit'],
    ['bad date on limit', (r: TokenUsageRepository) => r.setUsageLimit('u', 10, '2024/01/01'), 'cycleStartDate'],
  ])('rejects %s with a ValidationError and writes nothing', async (_name, call, field) => {
    const { repo } = memoryRepository();
    const error = await call(repo).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
    expect(await repo.checkUsageLimit('u')).toMatchObject({ limit: 0 });
  });

  it('validates every argument before writing: a bad second count leaves the first unrecorded', async () => {
    const { repo } = memoryRepository();
    await expect(repo.incrementDetailedUsage('u', 5, -5)).rejects.toThrow(ValidationError);
    expect((await repo.getUsageStats('u')).promptTokens).toBe(0);
  });

  it('logs no info line per increment and logs store failures at error without user data', async () => {
    const logger = new RecordingLogger();
    const store = new InMemoryUsageStore();
    const repo = createTokenUsageRepository({ config: { store: 'memory' }, store, logger });
    await repo.incrementDetailedUsage('secret-user', 1, 1);
    expect(logger.lines.filter((line) => line.level === 'info')).toEqual([]);
    await store.close();
    await expect(repo.getUsageStats('secret-user')).rejects.toSatisfy((e) => isUsageError(e, 'USAGE.STORE_UNAVAILABLE'));
    const errors = logger.lines.filter((line) => line.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.fields).toMatchObject({ operation: 'getUsageStats', err: { code: 'USAGE.STORE_UNAVAILABLE' } });
    expect(logger.text()).not.toContain('secret-user');
  });
});

describe('building the repository', () => {
  it('the default instance is created at import without reading the environment or connecting', () => {
    expect(tokenUsageRepo).toBeInstanceOf(TokenUsageRepository);
  });

  it('a lazy instance reads the environment on its first call: a bad value is a ConfigError naming it', async () => {
    const repo = createLazyTokenUsageRepository({ env: { TOKEN_STATS_DEFAULT_CYCLE: 'yearly' } });
    const error = await repo.getUsageStats('u').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('TOKEN_STATS_DEFAULT_CYCLE');
    await repo.close();
  });

  it('a lazy instance on the memory store works once configured', async () => {
    const repo = createLazyTokenUsageRepository({ env: { TOKEN_STATS_STORE: 'memory' } });
    await repo.incrementDetailedUsage('u', 2, 3);
    expect((await repo.getUsageStats('u')).totalTokens).toBe(5);
    await repo.close();
  });

  it('createTokenUsageRepository reads the environment when given no config', async () => {
    const repo = createTokenUsageRepository({
      env: { TOKEN_STATS_STORE: 'memory', TOKEN_STATS_DEFAULT_CYCLE: 'daily' },
      clock: new FakeClock('2024-01-15T12:00:00Z'),
    });
    await repo.incrementTotalUsage('u', 7);
    expect((await repo.getUsageStats('u', '2024-01-15')).totalTokens).toBe(7);
    expect((await repo.getUsageStats('u', '2024-01-01')).totalTokens).toBe(0);
  });

  it('close() flushes the buffered recorder even when the host took it from the container', async () => {
    const store = new InMemoryUsageStore();
    const host = new Container();
    host.load(
      tokenUsageModule({
        config: resolveConfig({ store: 'memory', buffer: { flushIntervalMs: 3_600_000 } }),
        store,
        logger: new RecordingLogger(),
      }),
    );
    const recorder = host.get(TOKENS.BufferedUsageRecorder);
    await recorder.record({ userId: 'u', promptTokens: 7, cycleStartDate: '2024-01-01' });
    const accounting = host.get(TOKENS.UsageAccounting);
    expect((await accounting.stats('u', '2024-01-01')).promptTokens).toBe(0);
    const flushed: number[] = [];
    const original = store.close.bind(store);
    store.close = async () => {
      flushed.push((await store.readUsage({ userId: 'u' as never, cycle: '2024-01-01' as never })).promptTokens);
      await original();
    };
    await host.get(TOKENS.TokenUsageRepository).close();
    expect(flushed).toEqual([7]);
  });

  it('loads into a host inversify container, sharing the host-provided store', async () => {
    const store = new InMemoryUsageStore();
    const host = new Container();
    host.load(tokenUsageModule({ config: resolveConfig({ store: 'memory' }), store, logger: new RecordingLogger() }));
    const repo = host.get(TOKENS.TokenUsageRepository);
    await repo.incrementDetailedUsage('u', 4, 4, '2024-01-01');
    expect(host.get(TOKENS.BaseStore)).toBe(store);
    expect(await host.get(TOKENS.UsageAccounting).stats('u', '2024-01-01')).toEqual({
      promptTokens: 4,
      completionTokens: 4,
      totalTokens: 8,
    });
    expect(host.get(TOKENS.TokenUsageRepository)).toBe(repo);
  });
});
