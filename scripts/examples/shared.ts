/**
 * Shared set-up of the SDK examples: a repository (in memory, or Redis with REDIS_URL) and, unless
 * USE_REAL_API=1, a fake provider on 127.0.0.1 that answers in the provider's own wire format.
 */
import { createTokenUsageRepository } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { FakeLlmServer } from '../../test/support/fake-llm-server.js';
import type { SseEvent } from '../../test/support/fake-llm-server.js';

export const useRealApi = process.env['USE_REAL_API'] === '1';

export function exampleRepository(): TokenUsageRepository {
  const url = process.env['REDIS_URL'];
  return createTokenUsageRepository({ config: { store: url ? 'redis' : 'memory', ...(url ? { redis: { url } } : {}), logLevel: 'error' } });
}

/** Starts the fake provider (or returns undefined with USE_REAL_API=1). */
export async function fakeProvider(): Promise<FakeLlmServer | undefined> {
  return useRealApi ? undefined : FakeLlmServer.start();
}

export async function printStats(repo: TokenUsageRepository, user: string): Promise<void> {
  console.log(`stats of ${user}:`, await repo.getUsageStats(user));
}

/** OpenAI chat-completions wire format: a JSON completion, and an SSE stream ending with the usage chunk. */
export const openAIWire = {
  usage: { prompt_tokens: 1_250, completion_tokens: 42, total_tokens: 1_292, prompt_tokens_details: { cached_tokens: 1_024 }, completion_tokens_details: { reasoning_tokens: 0 } },
  completion(id: string) {
    return { id, object: 'chat.completion', created: 1, model: 'gpt-example', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the fake provider!' }, finish_reason: 'stop' }], usage: this.usage };
  },
  stream(id: string, texts: string[]): SseEvent[] {
    const chunk = (choices: unknown[], usage: unknown = null) => ({ data: { id, object: 'chat.completion.chunk', created: 1, model: 'gpt-example', choices, usage } });
    return [
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      ...texts.map((text) => chunk([{ index: 0, delta: { content: text }, finish_reason: null }])),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
      chunk([], this.usage),
      { data: '[DONE]' },
    ];
  },
};
