import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import { switchableRepository } from '../support/repositories.js';

describe('cache and reasoning details through commit and guard', () => {
  it('commit records the details beside the three counters; stats show them; the total is unchanged', async () => {
    const { repo } = switchableRepository();
    const granted = await repo.reserve('u', 2_000);
    if (!granted.granted) throw new Error('expected a grant');
    await repo.commit(granted.reservation, {
      promptTokens: 1_500,
      completionTokens: 200,
      cacheReadTokens: 1_000,
      cacheWriteTokens: 400,
      reasoningTokens: 120,
    });
    expect(await repo.getUsageStats('u')).toEqual({
      promptTokens: 1_500,
      completionTokens: 200,
      totalTokens: 1_700,
      cacheReadTokens: 1_000,
      cacheWriteTokens: 400,
      reasoningTokens: 120,
    });
  });

  it('guard records the details an Anthropic result reports, with the full input as prompt', async () => {
    const { repo } = switchableRepository();
    await repo.guard('u', { estimateTokens: 100 }, async () => ({
      id: 'msg_1',
      usage: { input_tokens: 10, cache_read_input_tokens: 500, cache_creation_input_tokens: 90, output_tokens: 30 },
    }));
    expect(await repo.getUsageStats('u')).toEqual({
      promptTokens: 600,
      completionTokens: 30,
      totalTokens: 630,
      cacheReadTokens: 500,
      cacheWriteTokens: 90,
    });
  });

  it.each([
    ['cache parts above the prompt', { promptTokens: 10, cacheReadTokens: 8, cacheWriteTokens: 3 }, 'cacheReadTokens'],
    ['reasoning above the completion', { completionTokens: 5, reasoningTokens: 6 }, 'reasoningTokens'],
    ['a negative detail', { promptTokens: 10, cacheWriteTokens: -1 }, 'cacheWriteTokens'],
    ['a fractional detail', { completionTokens: 10, reasoningTokens: 1.5 }, 'reasoningTokens'],
  ])('rejects %s with a ValidationError and writes nothing (the reservation stays held)', async (_name, usage, field) => {
    const { repo } = switchableRepository();
    const granted = await repo.reserve('u', 50);
    if (!granted.granted) throw new Error('expected a grant');
    const error = await repo.commit(granted.reservation, usage).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'USAGE.INVALID_TOKEN_COUNT', field });
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
    expect((await repo.canConsume('u', 0)).reserved).toBe(50);
  });
});
