import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { meterGoogleGenAI, settlementOf } from '../../src/adapters/sdk/google-genai/index.js';
import { FakeLlmServer } from '../support/fake-llm-server.js';
import type { SseEvent } from '../support/fake-llm-server.js';
import { BACKENDS, reservedTokens } from '../support/sdk-backends.js';

const USAGE = { promptTokenCount: 120, cachedContentTokenCount: 100, candidatesTokenCount: 40, thoughtsTokenCount: 300, totalTokenCount: 460, trafficType: 'ON_DEMAND' };
const STORED = { promptTokens: 120, completionTokens: 340, totalTokens: 460, cacheReadTokens: 100, reasoningTokens: 300 };

const response = (responseId: string, text: string, finish: boolean, usageMetadata?: unknown) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finish ? { finishReason: 'STOP' } : {}) }],
  ...(usageMetadata === undefined ? {} : { usageMetadata }),
  modelVersion: 'gemini-test',
  responseId,
});
const chunks = (id: string, texts: string[]): SseEvent[] =>
  texts.map((text, i) => ({ data: response(id, text, i === texts.length - 1, i === texts.length - 1 ? USAGE : { promptTokenCount: 120, totalTokenCount: 120 }) }));
const retryable = (status: number) => ({ status, json: { error: { code: status, message: 'fake', status: 'UNAVAILABLE' } } });
const params = { model: 'gemini-test', contents: 'Explain the tides to the people reading this test.', config: { maxOutputTokens: 800 } };

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

describe.each(BACKENDS)('token-usage-repository/google-genai with the real @google/genai, $name', ({ create }) => {
  let repo: TokenUsageRepository;
  let ai: GoogleGenAI;
  beforeEach(() => {
    repo = create();
    const raw = new GoogleGenAI({ apiKey: 'test', httpOptions: { baseUrl: server.url, retryOptions: { attempts: 3, initialDelay: 0.001, maxDelay: 0.002, jitter: 0 } } });
    ai = meterGoogleGenAI(raw, { repo, userId: 'erin' });
    return () => repo.close();
  });

  it('generateContent: thoughts count as output; cached content is a detail of the prompt', async () => {
    server.enqueue(':generateContent', { status: 200, json: response('resp-1', 'High tide!', true, USAGE) });
    const result = await ai.models.generateContent(params);
    expect(result.text).toBe('High tide!');
    expect(await repo.getUsageStats('erin')).toEqual(STORED);
    expect(await reservedTokens(repo, 'erin')).toBe(0);
  });

  it('counts a call once across the SDK retries of 429 and 503', async () => {
    server.enqueue(':generateContent', retryable(429), retryable(503), { status: 200, json: response('resp-2', 'ok', true, USAGE) });
    await ai.models.generateContent(params);
    expect(server.received(':generateContent')).toHaveLength(3);
    expect(await repo.getUsageStats('erin')).toEqual(STORED);
  });

  it('a denied call never reaches the server', async () => {
    await repo.setUsageLimit('erin', 200);
    await expect(ai.models.generateContent(params)).rejects.toBeInstanceOf(QuotaExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it('generateContentStream: commits the last chunk usage once the stream ends', async () => {
    server.enqueue(':streamGenerateContent', { sse: chunks('resp-3', ['The moon', ' pulls.']) });
    const stream = await ai.models.generateContentStream(params);
    let text = '';
    for await (const chunk of stream) text += chunk.text ?? '';
    expect(text).toBe('The moon pulls.');
    expect(await repo.getUsageStats('erin')).toEqual(STORED);
    expect(await reservedTokens(repo, 'erin')).toBe(0);
  });

  it('a break commits the reported prompt + the output so far at once', async () => {
    server.enqueue(':streamGenerateContent', { sse: chunks('resp-4', ['12345678', 'more', 'end']).slice(0, 2), hold: true });
    const stream = await ai.models.generateContentStream(params);
    for await (const chunk of stream) if (chunk.text === '12345678') break;
    expect(await settlementOf(stream)).toMatchObject({ end: 'abandoned', action: 'committed' });
    expect(await repo.getUsageStats('erin')).toEqual({ promptTokens: 120, completionTokens: 2, totalTokens: 122 });
    expect(await reservedTokens(repo, 'erin')).toBe(0);
  });

  it('a stream cut midway surfaces the error and commits what was used', async () => {
    server.enqueue(':streamGenerateContent', { sse: chunks('resp-5', ['abcd', 'efgh', 'ijkl']), cutAfter: 1 });
    const stream = await ai.models.generateContentStream(params);
    await expect((async () => {
      for await (const _ of stream) void _;
    })()).rejects.toThrow();
    expect(await repo.getUsageStats('erin')).toEqual({ promptTokens: 120, completionTokens: 1, totalTokens: 121 });
    expect(await reservedTokens(repo, 'erin')).toBe(0);
  });
});
