import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { tokenUsageCallbacks } from '../../src/adapters/sdk/langchain/index.js';
import type { TokenUsageCallbacks } from '../../src/adapters/sdk/langchain/index.js';
import { FakeLlmServer } from '../support/fake-llm-server.js';
import { chatChunks, chatCompletion as completion } from '../support/openai-wire.js';
import { BACKENDS, reservedTokens } from '../support/sdk-backends.js';

const PROMPT = 'Write one line about the people reading this test.';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

describe.each(BACKENDS)('token-usage-repository/langchain with the real @langchain/openai, $name', ({ create }) => {
  let repo: TokenUsageRepository;
  let handler: TokenUsageCallbacks;
  let model: ChatOpenAI;
  beforeEach(() => {
    repo = create();
    handler = tokenUsageCallbacks({ repo, resolveUser: ({ metadata }) => String(metadata['userId']) });
    model = new ChatOpenAI({ model: 'gpt-test', apiKey: 'test', configuration: { baseURL: `${server.url}/v1` }, maxRetries: 0, maxTokens: 200 });
    return () => repo.close();
  });

  it('invoke: reserves at start, commits usage_metadata at the end (keyed by runId)', async () => {
    server.enqueue('/chat/completions', { status: 200, json: completion('chatcmpl-l1', 600, 25, 512) });
    const message = await model.invoke(PROMPT, { callbacks: [handler], metadata: { userId: 'frank' } });
    expect(message.content).toBe('Hi there');
    expect(await repo.getUsageStats('frank')).toEqual({ promptTokens: 600, completionTokens: 25, totalTokens: 625, cacheReadTokens: 512 });
    expect(await reservedTokens(repo, 'frank')).toBe(0);
    expect(handler.openRuns).toBe(0);
  });

  it('a denial in handleChatModelStart throws QuotaExceededError and the model is never called', async () => {
    await repo.setUsageLimit('frank', 50);
    await expect(model.invoke(PROMPT, { callbacks: [handler], metadata: { userId: 'frank' } })).rejects.toBeInstanceOf(QuotaExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it('a provider error releases the reservation; nothing is recorded', async () => {
    server.enqueue('/chat/completions', { status: 500, json: { error: { message: 'boom' } } });
    await expect(model.invoke(PROMPT, { callbacks: [handler], metadata: { userId: 'frank' } })).rejects.toThrow();
    expect(await reservedTokens(repo, 'frank')).toBe(0);
    expect(await repo.getUsageStats('frank')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it('handler.stream(): a completed stream commits the provider usage once', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-l2', ['One', ' line'], 300, 9) });
    let text = '';
    for await (const chunk of handler.stream(model, PROMPT, { metadata: { userId: 'frank' } })) text += String(chunk.content);
    expect(text).toBe('One line');
    expect(server.received('/chat/completions')[0]?.body['stream_options']).toEqual({ include_usage: true });
    expect(await repo.getUsageStats('frank')).toEqual({ promptTokens: 300, completionTokens: 9, totalTokens: 309 });
    expect(await reservedTokens(repo, 'frank')).toBe(0);
  });

  it('handler.stream(): a consumer break (no LangChain callback fires) commits the prompt + output so far at once', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-l3', ['12345678'], 1, 1).slice(0, 2), hold: true });
    for await (const chunk of handler.stream(model, PROMPT, { metadata: { userId: 'frank' } })) if (chunk.content === '12345678') break;
    const prompt = Math.ceil(PROMPT.length / 4);
    expect(await repo.getUsageStats('frank')).toEqual({ promptTokens: prompt, completionTokens: 2, totalTokens: prompt + 2 });
    expect(await reservedTokens(repo, 'frank')).toBe(0);
    expect(handler.openRuns).toBe(0);
  });
  it('handler.stream() with an AbortSignal midway: the run is settled once with the prompt + output so far', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-l4', ['12345678'], 1, 1).slice(0, 2), hold: true });
    const controller = new AbortController();
    const seen: string[] = [];
    await expect((async () => {
      for await (const chunk of handler.stream(model, PROMPT, { metadata: { userId: 'frank' }, signal: controller.signal })) {
        seen.push(String(chunk.content));
        if (chunk.content === '12345678') controller.abort();
      }
    })()).rejects.toThrow();
    expect(seen).toContain('12345678');
    const prompt = Math.ceil(PROMPT.length / 4);
    expect(await repo.getUsageStats('frank')).toEqual({ promptTokens: prompt, completionTokens: 2, totalTokens: prompt + 2 });
    expect(await reservedTokens(repo, 'frank')).toBe(0);
    expect(handler.openRuns).toBe(0);
  });
});
