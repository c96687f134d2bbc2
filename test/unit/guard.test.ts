import { describe, expect, it } from 'vitest';
import { QuotaExceededError, StoreUnavailableError, defaultUsageExtractor } from '../../src/index.js';
import { switchableRepository } from '../support/repositories.js';

/** A fake LLM call: resolves with an OpenAI-shaped result, or rejects, or waits for an abort. */
const openAiResult = (prompt: number, completion: number) => ({
  id: 'chatcmpl-1',
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
});

describe('guard(userId, { estimateTokens }, call)', () => {
  it('reserves, calls, commits the usage the result reports and frees the reservation', async () => {
    const { repo } = switchableRepository();
    await repo.setUsageLimit('u', 1_000);
    let reservedDuringCall: number | null = null;
    const value = await repo.guard('u', { estimateTokens: 500 }, async () => {
      reservedDuringCall = (await repo.canConsume('u', 0)).reserved;
      return openAiResult(120, 80);
    });
    expect(value.id).toBe('chatcmpl-1');
    expect(reservedDuringCall).toBe(500);
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 120, completionTokens: 80, totalTokens: 200 });
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 0, remaining: 800 });
  });

  it('records the actual usage when the estimate was too high or too low', async () => {
    const { repo } = switchableRepository();
    await repo.guard('u', { estimateTokens: 1_000 }, async () => openAiResult(10, 10));
    await repo.guard('u', { estimateTokens: 5 }, async () => openAiResult(300, 200));
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 310, completionTokens: 210, totalTokens: 520 });
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 0 });
  });

  it('throws QuotaExceededError with the numbers, without calling, when the reservation is denied', async () => {
    const { repo } = switchableRepository();
    await repo.setUsageLimit('u', 100);
    await repo.incrementTotalUsage('u', 90);
    let called = false;
    const error = await repo
      .guard('u', { estimateTokens: 20 }, async () => {
        called = true;
        return openAiResult(1, 1);
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(error).toMatchObject({
      code: 'USAGE.QUOTA_EXCEEDED',
      reason: 'limit-exceeded',
      currentUsage: 90,
      reserved: 0,
      limit: 100,
      remaining: 10,
      requested: 20,
    });
  });

  it('releases the reservation and rethrows when the call throws; nothing is recorded', async () => {
    const { repo } = switchableRepository();
    const failure = new Error('provider 500');
    await expect(
      repo.guard('u', { estimateTokens: 50 }, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 0, currentUsage: 0 });
  });

  it('an aborted call commits the prompt tokens when they are known, and releases otherwise', async () => {
    const { repo } = switchableRepository();
    const abortable = (signal: AbortSignal | undefined) =>
      new Promise<never>((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason));
      });
    const known = new AbortController();
    const first = repo.guard('u', { estimateTokens: 100, promptTokens: 42, signal: known.signal }, abortable);
    known.abort();
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 42, completionTokens: 0, totalTokens: 42 });

    const unknown = new AbortController();
    const second = repo.guard('u', { estimateTokens: 100, signal: unknown.signal }, abortable);
    unknown.abort();
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    expect(await repo.getUsageStats('u')).toMatchObject({ totalTokens: 42 });
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 0 });
  });

  it('does not reserve or call when the signal is already aborted', async () => {
    const { repo } = switchableRepository();
    const controller = new AbortController();
    controller.abort();
    let called = false;
    await expect(
      repo.guard('u', { estimateTokens: 10, signal: controller.signal }, async () => {
        called = true;
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(called).toBe(false);
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 0 });
  });

  it('charges the estimate as total tokens when the result reports no usable usage', async () => {
    const { repo, logger } = switchableRepository();
    await repo.guard('u', { estimateTokens: 64 }, async () => ({ text: 'no usage here' }));
    await repo.guard('u', { estimateTokens: 36 }, async () => ({ usage: { prompt_tokens: -1, completion_tokens: 2 } }));
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 100 });
    expect(logger.lines.filter((line) => line.level === 'warn')).toHaveLength(2);
  });

  it('uses a custom extractor, and one that throws falls back to the estimate', async () => {
    const { repo } = switchableRepository();
    await repo.guard('u', { estimateTokens: 10, extractUsage: (r: { n: number }) => ({ promptTokens: r.n }) }, async () => ({ n: 7 }));
    await repo.guard(
      'u',
      {
        estimateTokens: 10,
        extractUsage: () => {
          throw new Error('bad');
        },
      },
      async () => ({}),
    );
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 7, completionTokens: 0, totalTokens: 17 });
  });

  it('a retried guard with the same idempotency key records the usage once', async () => {
    const { repo } = switchableRepository();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await repo.guard('u', { estimateTokens: 50, idempotencyKey: 'req-1' }, async () => openAiResult(10, 5));
    }
    expect((await repo.getUsageStats('u')).totalTokens).toBe(15);
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 0 });
  });

  it('when recording fails after a successful call, throws StoreUnavailableError and keeps the lease (conservative)', async () => {
    const { repo, store } = switchableRepository();
    store.failing.add('recordUsage');
    await expect(repo.guard('u', { estimateTokens: 50 }, async () => openAiResult(10, 5))).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(await repo.canConsume('u', 0)).toMatchObject({ reserved: 50, currentUsage: 0 });
  });
});

describe('defaultUsageExtractor', () => {
  it.each([
    ['OpenAI chat', { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }, { promptTokens: 3, completionTokens: 4, totalTokens: 7 }],
    ['Anthropic', { usage: { input_tokens: 3, output_tokens: 4 } }, { promptTokens: 3, completionTokens: 4, totalTokens: 7 }],
    [
      'Anthropic with the cache (full input = input + cache creation + cache read)',
      { usage: { input_tokens: 3, output_tokens: 4, cache_creation_input_tokens: 100, cache_read_input_tokens: 1_000 } },
      { promptTokens: 1_103, completionTokens: 4, totalTokens: 1_107, cacheReadTokens: 1_000, cacheWriteTokens: 100 },
    ],
    [
      'OpenAI responses',
      { usage: { input_tokens: 30, output_tokens: 4, total_tokens: 34, input_tokens_details: { cached_tokens: 10 } } },
      { promptTokens: 30, completionTokens: 4, totalTokens: 34, cacheReadTokens: 10 },
    ],
    ['AI SDK 5', { usage: { inputTokens: 3, outputTokens: 4, totalTokens: 9 } }, { promptTokens: 3, completionTokens: 4, totalTokens: 9 }],
    [
      'AI SDK 6/7 nested',
      { usage: { inputTokens: { total: 5, noCache: 3, cacheRead: 2 }, outputTokens: { total: 4, reasoning: 1 } } },
      { promptTokens: 5, completionTokens: 4, totalTokens: 9, cacheReadTokens: 2, reasoningTokens: 1 },
    ],
    ['AI SDK 4', { usage: { promptTokens: 3, completionTokens: 4 } }, { promptTokens: 3, completionTokens: 4, totalTokens: 7 }],
    [
      'Gemini usageMetadata',
      { usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, thoughtsTokenCount: 7, totalTokenCount: 22 } },
      { promptTokens: 10, completionTokens: 12, totalTokens: 22, reasoningTokens: 7 },
    ],
    [
      'LangChain usage_metadata',
      { usage_metadata: { input_tokens: 10, output_tokens: 5, total_tokens: 15, input_token_details: { cache_read: 4 } } },
      { promptTokens: 10, completionTokens: 5, totalTokens: 15, cacheReadTokens: 4 },
    ],
    ['a total below the parts (ignored)', { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 5 } }, { promptTokens: 3, completionTokens: 4, totalTokens: 7 }],
    ['no usage', { text: 'hi' }, undefined],
    ['non-numbers', { usage: { prompt_tokens: '3', completion_tokens: 4 } }, undefined],
    ['null', null, undefined],
  ])('%s', (_name, result, expected) => {
    expect(defaultUsageExtractor(result)).toEqual(expected);
  });
});
