/**
 * `npm run example:openai`: meters the real openai SDK, against a fake provider on 127.0.0.1
 * (USE_REAL_API=1 with OPENAI_API_KEY for the real API; REDIS_URL for Redis instead of memory).
 */
import OpenAI from 'openai';
import { QuotaExceededError } from '../../src/index.js';
import { meterOpenAI } from '../../src/adapters/sdk/openai/index.js';
import { exampleRepository, fakeProvider, openAIWire, printStats } from './shared.js';

const repo = exampleRepository();
const server = await fakeProvider();
server?.enqueue('/chat/completions', { status: 200, json: openAIWire.completion('chatcmpl-1') }, { sse: openAIWire.stream('chatcmpl-2', ['Streamed ', 'hello!']) });
const client = meterOpenAI(new OpenAI(server ? { apiKey: 'fake', baseURL: `${server.url}/v1` } : {}), { repo, userId: 'example-user' });
const model = process.env['OPENAI_MODEL'] ?? 'gpt-4o-mini';
try {
  await repo.resetUsage('example-user');
  await repo.setUsageLimit('example-user', 10_000);
  const reply = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Say hello.' }], max_completion_tokens: 200 });
  console.log('reply:', reply.choices[0]?.message.content);
  let text = '';
  for await (const chunk of await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Say hello, streamed.' }], stream: true })) {
    text += chunk.choices[0]?.delta.content ?? '';
  }
  console.log('streamed:', text);
  await printStats(repo, 'example-user');
  await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'A long essay.' }], max_completion_tokens: 50_000 }).catch((error: unknown) => {
    if (!(error instanceof QuotaExceededError)) throw error;
    console.log(`refused before the API was called: ${error.remaining} tokens left`);
  });
} finally {
  await repo.close();
  await server?.close();
}
