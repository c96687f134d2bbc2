/**
 * `npm run example:ai-sdk`: the AI SDK middleware on ai 7 + @ai-sdk/openai, against a fake provider on
 * 127.0.0.1 (USE_REAL_API=1 with OPENAI_API_KEY for the real API; REDIS_URL for Redis instead of memory).
 */
import { createOpenAI } from '@ai-sdk/openai';
import { streamText, wrapLanguageModel } from 'ai';
import { tokenUsageMiddleware } from '../../src/adapters/sdk/ai-sdk/index.js';
import { exampleRepository, fakeProvider, openAIWire, printStats } from './shared.js';

const repo = exampleRepository();
const server = await fakeProvider();
server?.enqueue('/chat/completions', { sse: openAIWire.stream('chatcmpl-1', ['Hello ', 'from ', 'the fake provider!']) });
const provider = createOpenAI(server ? { apiKey: 'fake', baseURL: `${server.url}/v1` } : {});
const model = wrapLanguageModel({
  model: provider.chat(process.env['OPENAI_MODEL'] ?? 'gpt-4o-mini'),
  // The user id travels in providerOptions, so one wrapped model serves every user.
  middleware: tokenUsageMiddleware({ repo, resolveUser: (params) => String(params.providerOptions?.['tokenUsage']?.['userId']) }),
});
try {
  await repo.resetUsage('example-user');
  const result = streamText({ model, prompt: 'Say hello.', providerOptions: { tokenUsage: { userId: 'example-user' } } });
  for await (const text of result.textStream) process.stdout.write(text);
  console.log();
  await printStats(repo, 'example-user');
} finally {
  await repo.close();
  await server?.close();
}
