import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import { callPlanner, overrideMethod, promptCharacters, settlementOf } from '../../src/adapters/sdk/metering.js';
import type { MeteringRepository } from '../../src/adapters/sdk/metering.js';
import { estimateOpenAI, meterOpenAI } from '../../src/adapters/sdk/openai/index.js';
import { estimateAnthropic } from '../../src/adapters/sdk/anthropic/index.js';
import { estimateAiSdk, tokenUsageMiddleware } from '../../src/adapters/sdk/ai-sdk/index.js';
import { estimateGoogleGenAI } from '../../src/adapters/sdk/google-genai/index.js';
import { tokenUsageCallbacks } from '../../src/adapters/sdk/langchain/index.js';
import { switchableRepository } from '../support/repositories.js';

const repo = (): MeteringRepository => switchableRepository().repo;

describe('the default estimate: prompt characters / 4 + the max output field', () => {
  it('reads each SDK request shape', () => {
    const messages = [{ role: 'user', content: 'x'.repeat(40) }];
    expect(estimateOpenAI({ messages, max_completion_tokens: 100 }, 4_096)).toEqual({ promptTokens: 10, maxOutputTokens: 100 });
    expect(estimateOpenAI({ input: 'y'.repeat(7), max_output_tokens: 5 }, 4_096)).toEqual({ promptTokens: 2, maxOutputTokens: 5 });
    expect(estimateOpenAI({ messages }, 64)).toEqual({ promptTokens: 10, maxOutputTokens: 64 });
    expect(estimateAnthropic({ system: 'abcd', messages, max_tokens: 9 }, 4_096)).toEqual({ promptTokens: 11, maxOutputTokens: 9 });
    expect(estimateAiSdk({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'z'.repeat(8) }] }], maxOutputTokens: 3 }, 4_096)).toEqual({ promptTokens: 2, maxOutputTokens: 3 });
    expect(estimateGoogleGenAI({ contents: 'q'.repeat(12), config: { maxOutputTokens: 7 } }, 4_096)).toEqual({ promptTokens: 3, maxOutputTokens: 7 });
  });

  it('counts text, not structure: roles, types and ids are skipped', () => {
    expect(promptCharacters([{ role: 'assistant', type: 'text', id: 'abc', text: 'hello' }])).toBe(5);
  });
});

describe('adapter options are checked when wrapping, with ValidationError', () => {
  it.each([
    ['no user', { repo: repo() }, 'userId'],
    ['both userId and resolveUser', { repo: repo(), userId: 'u', resolveUser: () => 'u' }, 'userId'],
    ['no repository', { userId: 'u' }, 'repo'],
    ['a non-function estimate', { repo: repo(), userId: 'u', estimate: 5 }, 'estimate'],
    ['a bad default max output', { repo: repo(), userId: 'u', defaultMaxOutputTokens: -1 }, 'defaultMaxOutputTokens'],
  ])('%s', (_name, options, field) => {
    const error = (() => {
      try {
        callPlanner(options as never, () => ({ promptTokens: 0, maxOutputTokens: 0 }));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'USAGE.INVALID_OPTION', field });
  });

  it('every adapter refuses bad options', () => {
    expect(() => meterOpenAI({ chat: { completions: { create: async () => ({}) } } }, { repo: repo() })).toThrow(ValidationError);
    expect(() => tokenUsageMiddleware({ repo: repo() })).toThrow(ValidationError);
    expect(() => tokenUsageCallbacks({ repo: {} as never, userId: 'u' })).toThrow(ValidationError);
  });

  it('a custom estimate with a bad count is a ValidationError at call time, before the request', async () => {
    let called = false;
    const client = meterOpenAI(
      { chat: { completions: { create: async () => { called = true; return {}; } } } },
      { repo: repo(), userId: 'u', estimate: () => ({ promptTokens: -1, maxOutputTokens: 1 }) },
    );
    await expect((client.chat.completions.create as (body: object) => Promise<unknown>)({})).rejects.toBeInstanceOf(ValidationError);
    expect(called).toBe(false);
  });
});

describe('overrideMethod', () => {
  class Client {
    readonly #secret = 'private';
    readonly nested = new (class Nested {
      readonly #inner = 42;
      create(): string {
        return 'original';
      }
      other(): number {
        return this.#inner; // breaks if called with a derived `this`
      }
    })();
    reveal(): string {
      return this.#secret;
    }
  }

  it('replaces one method and keeps every other member working on the original object (private fields too)', () => {
    const client = new Client();
    const view = overrideMethod(client, ['nested', 'create'], () => 'metered');
    expect(view.nested.create()).toBe('metered');
    expect(view.nested.other()).toBe(42);
    expect(view.reveal()).toBe('private');
    expect(client.nested.create()).toBe('original');
  });

  it('settlementOf answers only for metered streams', () => {
    expect(settlementOf({})).toBeUndefined();
    expect(settlementOf(null)).toBeUndefined();
  });
});
