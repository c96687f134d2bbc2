import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const tsx = resolve(root, 'node_modules/tsx/dist/cli.mjs');

/** Runs an example as `npm run example:<sdk>` would: in memory, against its fake provider. */
function runExample(name: string): string {
  const env = { ...process.env };
  for (const variable of ['REDIS_URL', 'USE_REAL_API']) delete env[variable];
  return execFileSync(process.execPath, [tsx, `scripts/examples/${name}.ts`], { cwd: root, env, encoding: 'utf8' });
}

describe('the README SDK examples run against their fake providers', () => {
  it('example:openai meters a call and a stream, then refuses an over-quota call', () => {
    const output = runExample('openai');
    expect(output).toContain('streamed: Streamed hello!');
    expect(output).toMatch(/promptTokens: 2500,\s+completionTokens: 84,\s+totalTokens: 2584,\s+cacheReadTokens: 2048/);
    expect(output).toContain('refused before the API was called: 7416 tokens left');
  }, 60_000);

  it('example:anthropic counts the cached input in full', () => {
    expect(runExample('anthropic')).toMatch(/promptTokens: 2060,\s+completionTokens: 9,\s+totalTokens: 2069,\s+cacheReadTokens: 2048/);
  }, 60_000);

  it('example:ai-sdk meters streamText through the middleware', () => {
    expect(runExample('ai-sdk')).toMatch(/promptTokens: 1250,\s+completionTokens: 42,\s+totalTokens: 1292,\s+cacheReadTokens: 1024/);
  }, 60_000);

  it('example:langchain meters invoke and a stream', () => {
    expect(runExample('langchain')).toMatch(/promptTokens: 2500,\s+completionTokens: 84,\s+totalTokens: 2584/);
  }, 60_000);

  it('example:google-genai counts thoughts as output', () => {
    expect(runExample('google-genai')).toMatch(/promptTokens: 8,\s+completionTokens: 71,\s+totalTokens: 79,\s+reasoningTokens: 64/);
  }, 60_000);
});
