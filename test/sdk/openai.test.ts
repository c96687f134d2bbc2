import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { meterOpenAI, settlementOf } from '../../src/adapters/sdk/openai/index.js';
import { FakeLlmServer } from '../support/fake-llm-server.js';
import type { SseEvent } from '../support/fake-llm-server.js';
import { BACKENDS, reservedTokens } from '../support/sdk-backends.js';

const USAGE = {
  prompt_tokens: 1_234,
  completion_tokens: 56,
  total_tokens: 1_290,
  prompt_tokens_details: { cached_tokens: 1_024, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 20, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};
const STORED = { promptTokens: 1_234, completionTokens: 56, totalTokens: 1_290, cacheReadTokens: 1_024, reasoningTokens: 20 };

const completion = (id: string) => ({
  id,
  object: 'chat.completion',
  created: 1,
  model: 'gpt-test',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there', refusal: null }, finish_reason: 'stop', logprobs: null }],
  usage: USAGE,
});

/** The wire format of a chat stream with include_usage: deltas, then one chunk with `choices: []` and the usage. */
function chatChunks(id: string, texts: string[]): SseEvent[] {
  const chunk = (choices: unknown[], usage: unknown = null) => ({ data: { id, object: 'chat.completion.chunk', created: 1, model: 'gpt-test', choices, usage } });
  return [
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    ...texts.map((text) => chunk([{ index: 0, delta: { content: text }, finish_reason: null }])),
    chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    chunk([], USAGE),
    { data: '[DONE]' },
  ];
}

const retryable = (status: number) => ({ status, json: { error: { message: `fake ${status}`, type: 'server_error' } }, headers: { 'retry-after-ms': '1' } });
const messages = [{ role: 'user' as const, content: 'Say hello to the nice people reading this test.' }];

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

describe.each(BACKENDS)('token-usage-repository/openai with the real openai SDK, $name', ({ create }) => {
  let repo: TokenUsageRepository;
  let client: OpenAI;
  beforeEach(() => {
    repo = create();
    client = meterOpenAI(new OpenAI({ apiKey: 'test', baseURL: `${server.url}/v1`, maxRetries: 2 }), { repo, userId: 'alice' });
    return () => repo.close();
  });

  it('non-streaming: stores exactly the provider usage, with the cache and reasoning details', async () => {
    server.enqueue('/chat/completions', { status: 200, json: completion('chatcmpl-1') });
    const result = await client.chat.completions.create({ model: 'gpt-test', messages, max_completion_tokens: 100 });
    expect(result.choices[0]?.message.content).toBe('Hi there');
    expect(await repo.getUsageStats('alice')).toEqual(STORED);
    expect(await reservedTokens(repo, 'alice')).toBe(0);
  });

  it('counts a call once across SDK retries of 429 and 500', async () => {
    server.enqueue('/chat/completions', retryable(429), retryable(500), { status: 200, json: completion('chatcmpl-2') });
    await client.chat.completions.create({ model: 'gpt-test', messages });
    expect(server.received('/chat/completions')).toHaveLength(3);
    expect(await repo.getUsageStats('alice')).toEqual(STORED);
  });

  it('a call that fails after every retry records nothing and frees its reservation', async () => {
    server.enqueue('/chat/completions', retryable(500), retryable(500), retryable(500));
    await expect(client.chat.completions.create({ model: 'gpt-test', messages })).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    expect(await repo.getUsageStats('alice')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
    expect(await reservedTokens(repo, 'alice')).toBe(0);
  });

  it('a denied call throws QuotaExceededError and never reaches the server', async () => {
    await repo.setUsageLimit('alice', 100);
    await expect(client.chat.completions.create({ model: 'gpt-test', messages, max_tokens: 500 })).rejects.toBeInstanceOf(QuotaExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it('streaming: forces include_usage, hides the usage-only chunk, stores the usage once the loop ends', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-3', ['Hel', 'lo']) });
    const stream = await client.chat.completions.create({ model: 'gpt-test', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello');
    expect(server.received('/chat/completions')[0]?.body['stream_options']).toEqual({ include_usage: true });
    expect(await repo.getUsageStats('alice')).toEqual(STORED);
    expect(await reservedTokens(repo, 'alice')).toBe(0);
  });

  it('streaming with include_usage asked for: the caller sees the usage chunk too', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-4', ['x']) });
    const stream = await client.chat.completions.create({ model: 'gpt-test', messages, stream: true, stream_options: { include_usage: true } });
    const usages: unknown[] = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toEqual([USAGE]);
    expect(await repo.getUsageStats('alice')).toEqual(STORED);
  });

  it('a consumer break aborts the request and commits the local prompt + output so far at once', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-5', ['12345678', 'more']).slice(0, 3), hold: true });
    const stream = await client.chat.completions.create({ model: 'gpt-test', messages, stream: true, max_tokens: 1_000 });
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content === '12345678') break;
    const prompt = Math.ceil(messages[0]!.content.length / 4); // the default estimator's count
    expect(await repo.getUsageStats('alice')).toEqual({ promptTokens: prompt, completionTokens: 2, totalTokens: prompt + 2 });
    expect(await reservedTokens(repo, 'alice')).toBe(0);
    await server.waitForDisconnects(1);
  });

  it('a stream cut midway: the SDK error reaches the caller; the output so far is committed, not the estimate', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-6', ['abcd', 'efgh', 'ijkl']), cutAfter: 3 });
    const stream = await client.chat.completions.create({ model: 'gpt-test', messages, stream: true });
    let text = '';
    await expect((async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })()).rejects.toThrow();
    expect(text).toBe('abcdefgh');
    expect(await settlementOf(stream)).toMatchObject({ end: 'error', action: 'committed' });
    const prompt = Math.ceil(messages[0]!.content.length / 4);
    expect(await repo.getUsageStats('alice')).toEqual({ promptTokens: prompt, completionTokens: 2, totalTokens: prompt + 2 });
    expect(await reservedTokens(repo, 'alice')).toBe(0);
  });

  it('an AbortSignal stops the stream and settles the reservation immediately', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-7', ['abcd']).slice(0, 2), hold: true });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'gpt-test', messages, stream: true }, { signal: controller.signal });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    const pending = iterator.next();
    controller.abort();
    // The openai SDK ends the iteration quietly on abort; either way the settlement is 'aborted'.
    await pending.catch(() => undefined);
    expect(await settlementOf(stream)).toMatchObject({ end: 'aborted', action: 'committed' });
    expect(await reservedTokens(repo, 'alice')).toBe(0);
    expect((await repo.getUsageStats('alice')).completionTokens).toBe(1);
  });

  it('responses.create streaming: stores the usage of the response.completed event', async () => {
    const usage = { input_tokens: 300, input_tokens_details: { cached_tokens: 256 }, output_tokens: 40, output_tokens_details: { reasoning_tokens: 8 }, total_tokens: 340 };
    const response = (status: string, withUsage: boolean) => ({ id: 'resp_1', object: 'response', status, output: [], ...(withUsage ? { usage } : { usage: null }) });
    server.enqueue('/responses', {
      sse: [
        { event: 'response.created', data: { type: 'response.created', sequence_number: 0, response: response('in_progress', false) } },
        { event: 'response.output_text.delta', data: { type: 'response.output_text.delta', sequence_number: 1, item_id: 'm', output_index: 0, content_index: 0, delta: 'Hi' } },
        { event: 'response.completed', data: { type: 'response.completed', sequence_number: 2, response: response('completed', true) } },
      ],
    });
    const stream = await client.responses.create({ model: 'gpt-test', input: 'hello', stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual(['response.created', 'response.output_text.delta', 'response.completed']);
    expect(await repo.getUsageStats('alice')).toEqual({ promptTokens: 300, completionTokens: 40, totalTokens: 340, cacheReadTokens: 256, reasoningTokens: 8 });
  });

  it('responses.create non-streaming, twice with the same response id: counted once', async () => {
    const json = { id: 'resp_same', object: 'response', status: 'completed', output: [], usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } } };
    server.enqueue('/responses', { status: 200, json }, { status: 200, json });
    await client.responses.create({ model: 'gpt-test', input: 'hello' });
    await client.responses.create({ model: 'gpt-test', input: 'hello' });
    expect(await repo.getUsageStats('alice')).toEqual({ promptTokens: 10, completionTokens: 5, totalTokens: 15 });
    expect(await reservedTokens(repo, 'alice')).toBe(0);
  });
});
