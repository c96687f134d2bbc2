import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { meterAnthropic, settlementOf } from '../../src/adapters/sdk/anthropic/index.js';
import { FakeLlmServer } from '../support/fake-llm-server.js';
import type { SseEvent } from '../support/fake-llm-server.js';
import { BACKENDS, reservedTokens } from '../support/sdk-backends.js';

const START_USAGE = { input_tokens: 21, cache_creation_input_tokens: 1_800, cache_read_input_tokens: 12_000, output_tokens: 1, service_tier: 'standard' };
// Full input = 21 + 1,800 + 12,000.
const FULL_INPUT = 13_821;

const message = (id: string, usage: Record<string, unknown>) => ({
  id,
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [{ type: 'text', text: 'Hello!' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage,
});

/** The Messages streaming wire format; `deltas` are cumulative output counts of successive message_delta events. */
function messageEvents(id: string, texts: string[], deltas: number[]): SseEvent[] {
  const event = (type: string, data: Record<string, unknown>): SseEvent => ({ event: type, data: { type, ...data } });
  return [
    event('message_start', { message: { ...message(id, START_USAGE), content: [], stop_reason: null } }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', {}),
    ...texts.map((text) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    event('content_block_stop', { index: 0 }),
    ...deltas.map((output) => event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: output, input_tokens: null } })),
    event('message_stop', {}),
  ];
}

const retryable = (status: number) => ({ status, json: { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message: 'fake' } }, headers: { 'retry-after-ms': '1' } });
const body = { model: 'claude-test', max_tokens: 1_024, system: 'Be brief.', messages: [{ role: 'user' as const, content: 'Say hello to the people reading this.' }] };
const localPrompt = Math.ceil(('Be brief.'.length + 'Say hello to the people reading this.'.length) / 4);

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

describe.each(BACKENDS)('token-usage-repository/anthropic with the real @anthropic-ai/sdk, $name', ({ create }) => {
  let repo: TokenUsageRepository;
  let client: Anthropic;
  beforeEach(() => {
    repo = create();
    client = meterAnthropic(new Anthropic({ apiKey: 'test', baseURL: server.url, maxRetries: 2 }), { repo, userId: 'bob' });
    return () => repo.close();
  });

  it('non-streaming: the FULL input (uncached + cache creation + cache read) is the prompt', async () => {
    server.enqueue('/v1/messages', { status: 200, json: message('msg_1', { ...START_USAGE, output_tokens: 42 }) });
    const result = await client.messages.create(body);
    expect(result.id).toBe('msg_1');
    expect(await repo.getUsageStats('bob')).toEqual({
      promptTokens: FULL_INPUT,
      completionTokens: 42,
      totalTokens: FULL_INPUT + 42,
      cacheReadTokens: 12_000,
      cacheWriteTokens: 1_800,
    });
    expect(await reservedTokens(repo, 'bob')).toBe(0);
  });

  it('counts a call once across SDK retries (429, 500, then 200)', async () => {
    server.enqueue('/v1/messages', retryable(429), retryable(500), { status: 200, json: message('msg_2', { input_tokens: 10, output_tokens: 5 }) });
    await client.messages.create(body);
    expect(server.received('/v1/messages')).toHaveLength(3);
    expect(await repo.getUsageStats('bob')).toEqual({ promptTokens: 10, completionTokens: 5, totalTokens: 15 });
  });

  it('a denied call never reaches the server', async () => {
    await repo.setUsageLimit('bob', 500);
    await expect(client.messages.create(body)).rejects.toBeInstanceOf(QuotaExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it('create({ stream: true }): cumulative message_delta counts are overwritten, never added', async () => {
    server.enqueue('/v1/messages', { sse: messageEvents('msg_3', ['Hel', 'lo'], [10, 37]) });
    const stream = await client.messages.create({ ...body, stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toContain('message_stop');
    expect(await repo.getUsageStats('bob')).toEqual({ promptTokens: FULL_INPUT, completionTokens: 37, totalTokens: FULL_INPUT + 37, cacheReadTokens: 12_000, cacheWriteTokens: 1_800 });
    expect(await reservedTokens(repo, 'bob')).toBe(0);
  });

  it('a break after message_start commits the reported input and cache counts + the output so far', async () => {
    server.enqueue('/v1/messages', { sse: messageEvents('msg_4', ['12345678'], []).slice(0, 4), hold: true });
    const stream = await client.messages.create({ ...body, stream: true });
    for await (const event of stream) if (event.type === 'content_block_delta') break;
    expect(await repo.getUsageStats('bob')).toEqual({ promptTokens: FULL_INPUT, completionTokens: 2, totalTokens: FULL_INPUT + 2, cacheReadTokens: 12_000, cacheWriteTokens: 1_800 });
    expect(await reservedTokens(repo, 'bob')).toBe(0);
    await server.waitForDisconnects(1);
  });

  it('a stream cut before message_start charges the locally counted prompt, never zero', async () => {
    server.enqueue('/v1/messages', { sse: messageEvents('msg_5', ['x'], [3]), cutAfter: 0 });
    const stream = await client.messages.create({ ...body, stream: true });
    await expect((async () => {
      for await (const _ of stream) void _;
    })()).rejects.toThrow();
    expect(await settlementOf(stream)).toMatchObject({ end: 'error', action: 'committed' });
    expect(await repo.getUsageStats('bob')).toEqual({ promptTokens: localPrompt, completionTokens: 0, totalTokens: localPrompt });
    expect(await reservedTokens(repo, 'bob')).toBe(0);
  });

  it('messages.stream(): iterate it, or await finalMessage(); usage committed once either way', async () => {
    server.enqueue('/v1/messages', { sse: messageEvents('msg_6', ['Hi'], [9]) }, { sse: messageEvents('msg_7', ['Yo'], [4]) });
    const first = client.messages.stream(body);
    let text = '';
    for await (const event of first) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    expect(text).toBe('Hi');
    const final = await client.messages.stream(body).finalMessage();
    expect(final.id).toBe('msg_7');
    expect(await repo.getUsageStats('bob')).toMatchObject({ promptTokens: 2 * FULL_INPUT, completionTokens: 13 });
    expect(await reservedTokens(repo, 'bob')).toBe(0);
  });

  it('messages.stream() denied: the error surfaces where the caller iterates; the server is never called', async () => {
    await repo.setUsageLimit('bob', 10);
    const stream = client.messages.stream(body);
    await expect(stream.finalMessage()).rejects.toBeInstanceOf(QuotaExceededError);
    expect(server.requests).toHaveLength(0);
  });
});
