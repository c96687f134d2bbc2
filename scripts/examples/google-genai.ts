/**
 * `npm run example:google-genai`: meters the real @google/genai, against a fake provider on 127.0.0.1
 * (USE_REAL_API=1 with GEMINI_API_KEY for the real API; REDIS_URL for Redis instead of memory).
 */
import { GoogleGenAI } from '@google/genai';
import { meterGoogleGenAI } from '../../src/adapters/sdk/google-genai/index.js';
import { exampleRepository, fakeProvider, printStats } from './shared.js';

const repo = exampleRepository();
const server = await fakeProvider();
const chunk = (text: string, last: boolean) => ({
  responseId: 'resp-1',
  candidates: [{ index: 0, content: { role: 'model', parts: [{ text }] }, ...(last ? { finishReason: 'STOP' } : {}) }],
  usageMetadata: last ? { promptTokenCount: 8, candidatesTokenCount: 7, thoughtsTokenCount: 64, totalTokenCount: 79 } : { promptTokenCount: 8, totalTokenCount: 8 },
});
server?.enqueue(':streamGenerateContent', { sse: [{ data: chunk('Hello from ', false) }, { data: chunk('the fake provider!', true) }] });
const ai = meterGoogleGenAI(new GoogleGenAI(server ? { apiKey: 'fake', httpOptions: { baseUrl: server.url } } : {}), { repo, userId: 'example-user' });
try {
  await repo.resetUsage('example-user');
  const stream = await ai.models.generateContentStream({ model: process.env['GEMINI_MODEL'] ?? 'gemini-2.5-flash', contents: 'Say hello.', config: { maxOutputTokens: 256 } });
  for await (const part of stream) process.stdout.write(part.text ?? '');
  console.log();
  // Thinking tokens are billed as output: completion = candidates + thoughts.
  await printStats(repo, 'example-user');
} finally {
  await repo.close();
  await server?.close();
}
