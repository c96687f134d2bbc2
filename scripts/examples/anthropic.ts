/**
 * `npm run example:anthropic`: meters the real @anthropic-ai/sdk, against a fake provider on 127.0.0.1
 * (USE_REAL_API=1 with ANTHROPIC_API_KEY for the real API; REDIS_URL for Redis instead of memory).
 */
import Anthropic from '@anthropic-ai/sdk';
import { meterAnthropic } from '../../src/adapters/sdk/anthropic/index.js';
import { exampleRepository, fakeProvider, printStats } from './shared.js';

const repo = exampleRepository();
const server = await fakeProvider();
const usage = { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 2_048, output_tokens: 1 };
const event = (type: string, data: Record<string, unknown>) => ({ event: type, data: { type, ...data } });
server?.enqueue('/v1/messages', {
  sse: [
    event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-example', content: [], stop_reason: null, stop_sequence: null, usage } }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello from the fake provider!' } }),
    event('content_block_stop', { index: 0 }),
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 9 } }),
    event('message_stop', {}),
  ],
});
const client = meterAnthropic(new Anthropic(server ? { apiKey: 'fake', baseURL: server.url } : {}), { repo, userId: 'example-user' });
try {
  await repo.resetUsage('example-user');
  const stream = client.messages.stream({ model: process.env['ANTHROPIC_MODEL'] ?? 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Say hello.' }] });
  for await (const part of stream) if (part.type === 'content_block_delta' && part.delta.type === 'text_delta') process.stdout.write(part.delta.text);
  console.log();
  // The full input (12 uncached + 2,048 read from the cache) is the prompt.
  await printStats(repo, 'example-user');
} finally {
  await repo.close();
  await server?.close();
}
