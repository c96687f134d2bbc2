import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool, wrapLanguageModel } from 'ai';
import { createOpenAI as createOpenAI2 } from 'ai-sdk-openai2';
import { generateText as generateText5, streamText as streamText5, wrapLanguageModel as wrapLanguageModel5 } from 'ai5';
import { generateText as generateText6, streamText as streamText6, wrapLanguageModel as wrapLanguageModel6 } from 'ai6';
import { createOpenAI as createOpenAI3 } from 'ai-sdk-openai3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/index.js';
import type { StreamSettlement, TokenUsageRepository } from '../../src/index.js';
import { tokenUsageMiddleware } from '../../src/adapters/sdk/ai-sdk/index.js';
import { FakeLlmServer } from '../support/fake-llm-server.js';
import { chatChunks, chatCompletion as completion, openAIUsage as usage } from '../support/openai-wire.js';
import { BACKENDS, reservedTokens } from '../support/sdk-backends.js';

const retryable = (status: number) => ({ status, json: { error: { message: `fake ${status}`, type: 'server_error' } }, headers: { 'retry-after-ms': '1' } });
const PROMPT = 'Tell the people reading this test a short joke.';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

/** The same behaviour through ai 7 (v4 middleware, nested usage), ai 6 (v3, nested) and ai 5 (v2, flat usage). */
const VERSIONS = [
  {
    ai: 'ai 7',
    model: (repo: TokenUsageRepository, onStreamSettled: (settlement: StreamSettlement) => void) =>
      wrapLanguageModel({
        model: createOpenAI({ apiKey: 'test', baseURL: `${server.url}/v1` }).chat('gpt-test'),
        middleware: tokenUsageMiddleware({ repo, userId: 'carol', onStreamSettled }),
      }),
    generate: (model: unknown, extra: Record<string, unknown> = {}) => generateText({ model: model as never, prompt: PROMPT, ...extra }),
    stream: (model: unknown, extra: Record<string, unknown> = {}) => streamText({ model: model as never, prompt: PROMPT, ...extra }),
  },
  {
    ai: 'ai 6',
    model: (repo: TokenUsageRepository, onStreamSettled: (settlement: StreamSettlement) => void) =>
      wrapLanguageModel6({
        model: createOpenAI3({ apiKey: 'test', baseURL: `${server.url}/v1` }).chat('gpt-test'),
        middleware: tokenUsageMiddleware({ repo, userId: 'carol', specificationVersion: 'v3', onStreamSettled }),
      }),
    generate: (model: unknown, extra: Record<string, unknown> = {}) => generateText6({ model: model as never, prompt: PROMPT, ...extra }),
    stream: (model: unknown, extra: Record<string, unknown> = {}) => streamText6({ model: model as never, prompt: PROMPT, ...extra }),
  },
  {
    ai: 'ai 5',
    model: (repo: TokenUsageRepository, onStreamSettled: (settlement: StreamSettlement) => void) =>
      wrapLanguageModel5({
        model: createOpenAI2({ apiKey: 'test', baseURL: `${server.url}/v1` }).chat('gpt-test'),
        middleware: tokenUsageMiddleware({ repo, userId: 'carol', specificationVersion: 'v2', onStreamSettled }),
      }),
    generate: (model: unknown, extra: Record<string, unknown> = {}) => generateText5({ model: model as never, prompt: PROMPT, ...extra }),
    stream: (model: unknown, extra: Record<string, unknown> = {}) => streamText5({ model: model as never, prompt: PROMPT, ...extra }),
  },
];
const CASES = BACKENDS.flatMap((backend) => VERSIONS.map((version) => ({ ...version, backend: backend.name, create: backend.create })));

describe.each(CASES)('token-usage-repository/ai-sdk with $ai, $backend', ({ model: wrap, generate, stream, create }) => {
  let repo: TokenUsageRepository;
  let model: unknown;
  let settlements: StreamSettlement[];
  let nextSettlement: Promise<StreamSettlement>;
  beforeEach(() => {
    repo = create();
    settlements = [];
    let resolve: (settlement: StreamSettlement) => void = () => undefined;
    nextSettlement = new Promise((r) => (resolve = r));
    model = wrap(repo, (settlement) => {
      settlements.push(settlement);
      resolve(settlement);
    });
    return () => repo.close();
  });

  it('generateText: stores the provider usage (cache detail included) and frees the reservation', async () => {
    server.enqueue('/chat/completions', { status: 200, json: completion('chatcmpl-a', 900, 30, 512) });
    const result = await generate(model);
    expect(result.text).toBe('Hi there');
    expect(await repo.getUsageStats('carol')).toEqual({ promptTokens: 900, completionTokens: 30, totalTokens: 930, cacheReadTokens: 512 });
    expect(await reservedTokens(repo, 'carol')).toBe(0);
  });

  it('counts a step once across the AI SDK retries of 429 and 500 (each attempt re-enters the middleware)', async () => {
    server.enqueue('/chat/completions', retryable(429), retryable(500), { status: 200, json: completion('chatcmpl-b', 100, 10) });
    await generate(model);
    expect(server.received('/chat/completions')).toHaveLength(3);
    expect(await repo.getUsageStats('carol')).toEqual({ promptTokens: 100, completionTokens: 10, totalTokens: 110 });
    expect(await reservedTokens(repo, 'carol')).toBe(0);
  });

  it('a denial throws QuotaExceededError before doGenerate: not retried, never reaches the server', async () => {
    await repo.setUsageLimit('carol', 100);
    const error = await generate(model, { maxOutputTokens: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it('streamText: commits the finish part usage before the text stream ends', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-c', ['Knock', ' knock'], 250, 12) });
    const result = stream(model);
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe('Knock knock');
    expect(settlements).toMatchObject([{ end: 'completed', action: 'committed' }]);
    expect(await repo.getUsageStats('carol')).toEqual({ promptTokens: 250, completionTokens: 12, totalTokens: 262 });
    expect(await reservedTokens(repo, 'carol')).toBe(0);
  });

  it('a consumer break on textStream does not stop the model call (the SDK reads on); its full usage is committed once', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-d', ['12345678', 'rest'], 77, 5) });
    const result = stream(model);
    for await (const delta of result.textStream) if (delta === '12345678') break;
    expect(await nextSettlement).toMatchObject({ end: 'completed', action: 'committed' });
    expect(await repo.getUsageStats('carol')).toEqual({ promptTokens: 77, completionTokens: 5, totalTokens: 82 });
    expect(await reservedTokens(repo, 'carol')).toBe(0);
    expect(settlements).toHaveLength(1);
  });

  it('a stream cut midway surfaces an error; the prompt + output so far is committed', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-f', ['abcd', 'efgh', 'ijkl'], 1, 1), cutAfter: 3 });
    const result = stream(model);
    let text = '';
    // Depending on the version the cut is an `error` part or a thrown AI_APICallError: either way the caller sees it.
    let surfaced = false;
    try {
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta') text += (part as { text?: string; textDelta?: string }).text ?? (part as { textDelta?: string }).textDelta ?? '';
        if (part.type === 'error') surfaced = true;
      }
    } catch {
      surfaced = true;
    }
    expect(surfaced).toBe(true);
    expect(text).toBe('abcdefgh');
    expect(await nextSettlement).toMatchObject({ end: 'error', action: 'committed', usage: { completionTokens: 2 } });
    expect(await reservedTokens(repo, 'carol')).toBe(0);
  });

  it('an abortSignal midway settles the reservation at once, charging what was used', async () => {
    server.enqueue('/chat/completions', { sse: chatChunks('chatcmpl-e', ['12345678'], 1, 1).slice(0, 2), hold: true });
    const controller = new AbortController();
    const result = stream(model, { abortSignal: controller.signal });
    const reader = result.textStream[Symbol.asyncIterator]();
    expect((await reader.next()).value).toBe('12345678');
    controller.abort();
    expect(await nextSettlement).toMatchObject({ end: 'aborted', action: 'committed', usage: { completionTokens: 2 } });
    expect(await reservedTokens(repo, 'carol')).toBe(0);
    await reader.return?.();
  });
});

describe.each(BACKENDS)('token-usage-repository/ai-sdk tool loop with ai 7, $name', ({ create }) => {
  it('reserves and commits once per step of a tool loop', async () => {
    const repo = create();
    const toolCall = {
      id: 'chatcmpl-t1',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-test',
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] }, finish_reason: 'tool_calls' }],
      usage: usage(50, 10),
    };
    server.enqueue('/chat/completions', { status: 200, json: toolCall }, { status: 200, json: completion('chatcmpl-t2', 80, 20) });
    const reservedDuringTool: Array<number | null> = [];
    const model = wrapLanguageModel({ model: createOpenAI({ apiKey: 'test', baseURL: `${server.url}/v1` }).chat('gpt-test'), middleware: tokenUsageMiddleware({ repo, userId: 'dave' }) });
    const result = await generateText({
      model,
      prompt: 'Weather in Oslo?',
      stopWhen: stepCountIs(3),
      tools: {
        weather: tool({
          inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
          execute: async ({ city }) => {
            reservedDuringTool.push(await reservedTokens(repo, 'dave'));
            return `sunny in ${city}`;
          },
        }),
      },
    });
    expect(result.steps).toHaveLength(2);
    expect(server.received('/chat/completions')).toHaveLength(2);
    expect(reservedDuringTool).toEqual([0]); // the first step's reservation was committed before the tool ran
    expect(await repo.getUsageStats('dave')).toEqual({ promptTokens: 130, completionTokens: 30, totalTokens: 160 });
    await repo.close();
  });
});
