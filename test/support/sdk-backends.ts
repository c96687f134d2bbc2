import { createTokenUsageRepository } from '../../src/application/di/create.js';
import type { TokenUsageRepository } from '../../src/application/token-usage-repository.js';
import { hasRedis, redisUrl, uniquePrefix } from './redis.js';
import { RecordingLogger } from './recording-logger.js';

/** A named way to build a fresh repository: the SDK suites run against each. */
export interface Backend {
  readonly name: string;
  readonly create: () => TokenUsageRepository;
}

/** In memory always; on the real Redis of the run when there is one (the global setup starts it). */
export const BACKENDS: readonly Backend[] = [
  { name: 'in memory', create: () => createTokenUsageRepository({ config: { store: 'memory' }, logger: new RecordingLogger() }) },
  ...(hasRedis
    ? [{ name: 'on real Redis', create: () => createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: uniquePrefix() }, logger: new RecordingLogger() }) }]
    : []),
];

/** Tokens currently held by live reservations of a user. */
export async function reservedTokens(repo: TokenUsageRepository, userId: string): Promise<number | null> {
  return (await repo.canConsume(userId, 0)).reserved;
}
