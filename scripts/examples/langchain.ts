/**
 * `npm run example:langchain`: the LangChain callback handler with @langchain/openai, against a fake
 * provider on 127.0.0.1 (USE_REAL_API=1 with OPENAI_API_KEY for the real API; REDIS_URL for Redis).
 */
import { ChatOpenAI } from '@langchain/openai';
import { tokenUsageCallbacks } from '../../src/adapters/sdk/langchain/index.js';
import { exampleRepository, fakeProvider, openAIWire, printStats } from './shared.js';

const repo = exampleRepository();
const server = await fakeProvider();
server?.enqueue('/chat/completions', { status: 200, json: openAIWire.completion('chatcmpl-1') }, { sse: openAIWire.stream('chatcmpl-2', ['Streamed ', 'hello!']) });
const model = new ChatOpenAI({ model: process.env['OPENAI_MODEL'] ?? 'gpt-4o-mini', maxTokens: 200, ...(server ? { apiKey: 'fake', configuration: { baseURL: `${server.url}/v1` } } : {}) });
const metering = tokenUsageCallbacks({ repo, resolveUser: ({ metadata }) => String(metadata['userId']) });
try {
  await repo.resetUsage('example-user');
  const reply = await model.invoke('Say hello.', { callbacks: [metering], metadata: { userId: 'example-user' } });
  console.log('reply:', reply.content);
  let text = '';
  // metering.stream() settles the run even when the loop is left early (LangChain fires no callback then).
  for await (const chunk of metering.stream(model, 'Say hello, streamed.', { metadata: { userId: 'example-user' } })) text += String(chunk.content);
  console.log('streamed:', text);
  await printStats(repo, 'example-user');
} finally {
  await repo.close();
  await server?.close();
}
