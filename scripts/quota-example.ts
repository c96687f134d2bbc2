/**
 * Enforcing a quota around LLM calls (the README's "Enforcing quotas" example).
 *   npm run example:quota                                  # in-memory store
 *   REDIS_URL=redis://127.0.0.1:6379 npm run example:quota # real Redis
 */
import { createTokenUsageRepository, QuotaExceededError } from '../src/index.js';

const repo = createTokenUsageRepository({
  config: {
    store: process.env['REDIS_URL'] ? 'redis' : 'memory',
    ...(process.env['REDIS_URL'] ? { redis: { url: process.env['REDIS_URL'] } } : {}),
    logLevel: 'error',
  },
});

// A stand-in for an LLM client: answers with OpenAI-style usage.
async function fakeCompletion(prompt: string, signal?: AbortSignal) {
  signal?.throwIfAborted();
  return { id: `resp_${prompt.length}`, usage: { prompt_tokens: prompt.length, completion_tokens: 120 } };
}

const user = 'quota-example-user';
try {
  await repo.resetUsage(user);
  await repo.setUsageLimit(user, 1_000);

  // 1. guard: reserve the estimate, call, commit what the call really used, release on failure.
  for (let i = 1; i <= 6; i += 1) {
    const prompt = 'x'.repeat(80);
    try {
      const response = await repo.guard(user, { estimateTokens: 250, idempotencyKey: `request-${i}` }, (signal) =>
        fakeCompletion(prompt, signal),
      );
      console.log(`call ${i}: ok (${response.id})`);
    } catch (error) {
      if (!(error instanceof QuotaExceededError)) throw error;
      console.log(`call ${i}: refused, ${error.remaining} of ${error.limit} tokens left (${error.currentUsage} used)`);
    }
  }

  // 2. The same by hand: a denial is a value, not an exception.
  const result = await repo.reserve(user, 100);
  if (result.granted) {
    await repo.commit(result.reservation, { promptTokens: 60, completionTokens: 30 });
    console.log('manual reserve/commit: recorded 90 tokens');
  } else {
    console.log(`manual reserve: denied (${result.reason}), remaining ${result.remaining}`);
  }

  console.log('usage now:', await repo.getUsageStats(user));
  console.log('check:', await repo.checkUsageLimit(user));
} finally {
  await repo.close();
}
