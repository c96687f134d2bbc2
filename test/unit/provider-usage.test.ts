import { describe, expect, it } from 'vitest';
import {
  aiSdkUsage,
  anthropicUsage,
  geminiUsage,
  langChainUsage,
  openAIChatUsage,
  openAIResponsesUsage,
} from '../../src/domain/provider-usage.js';

// Wire shapes as the providers send them (docs/llm-ecosystem research, section A).
describe('openAIChatUsage', () => {
  it('keeps prompt_tokens (it already includes cached_tokens) and reads the details as parts', () => {
    const usage = {
      prompt_tokens: 2_006,
      completion_tokens: 300,
      total_tokens: 2_306,
      prompt_tokens_details: { cached_tokens: 1_920, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 256, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    expect(openAIChatUsage(usage)).toEqual({
      promptTokens: 2_006,
      completionTokens: 300,
      totalTokens: 2_306,
      cacheReadTokens: 1_920,
      reasoningTokens: 256,
    });
  });

  it('reads cache_write_tokens; omits zero details; rejects other shapes', () => {
    expect(openAIChatUsage({ prompt_tokens: 10, completion_tokens: 1, total_tokens: 11, prompt_tokens_details: { cache_write_tokens: 8 } })).toEqual({
      promptTokens: 10,
      completionTokens: 1,
      totalTokens: 11,
      cacheWriteTokens: 8,
    });
    expect(openAIChatUsage({ prompt_tokens: 1, completion_tokens: 0, total_tokens: 1, completion_tokens_details: { reasoning_tokens: 0 } })).toEqual({
      promptTokens: 1,
      completionTokens: 0,
      totalTokens: 1,
    });
    expect(openAIChatUsage(null)).toBeUndefined();
    expect(openAIChatUsage({ input_tokens: 1, output_tokens: 1 })).toBeUndefined();
    expect(openAIChatUsage({ prompt_tokens: -1, completion_tokens: 1 })).toBeUndefined();
  });

  it('does not trust a detail larger than its whole', () => {
    expect(openAIChatUsage({ prompt_tokens: 5, completion_tokens: 2, completion_tokens_details: { reasoning_tokens: 9 }, prompt_tokens_details: { cached_tokens: 6 } })).toEqual({
      promptTokens: 5,
      completionTokens: 2,
      totalTokens: 7,
    });
  });
});

describe('openAIResponsesUsage', () => {
  it('reads ResponseUsage', () => {
    const usage = {
      input_tokens: 1_200,
      input_tokens_details: { cached_tokens: 1_024, cache_write_tokens: 0 },
      output_tokens: 500,
      output_tokens_details: { reasoning_tokens: 384 },
      total_tokens: 1_700,
    };
    expect(openAIResponsesUsage(usage)).toEqual({ promptTokens: 1_200, completionTokens: 500, totalTokens: 1_700, cacheReadTokens: 1_024, reasoningTokens: 384 });
  });
});

describe('anthropicUsage', () => {
  it('adds cache creation and cache read to input_tokens: the full input', () => {
    const usage = {
      input_tokens: 21,
      cache_creation_input_tokens: 188_086,
      cache_read_input_tokens: 12,
      cache_creation: { ephemeral_5m_input_tokens: 188_086, ephemeral_1h_input_tokens: 0 },
      output_tokens: 393,
      output_tokens_details: { thinking_tokens: 200 },
      server_tool_use: null,
      service_tier: 'standard',
    };
    expect(anthropicUsage(usage)).toEqual({
      promptTokens: 188_119,
      completionTokens: 393,
      totalTokens: 188_512,
      cacheReadTokens: 12,
      cacheWriteTokens: 188_086,
      reasoningTokens: 200,
    });
  });

  it('treats null cache fields as none', () => {
    expect(anthropicUsage({ input_tokens: 25, output_tokens: 1, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens_details: null })).toEqual({
      promptTokens: 25,
      completionTokens: 1,
      totalTokens: 26,
    });
  });
});

describe('geminiUsage', () => {
  it('counts thoughts as output and the tool-use prompt as input; keeps the larger total', () => {
    const usageMetadata = {
      promptTokenCount: 120,
      cachedContentTokenCount: 100,
      candidatesTokenCount: 40,
      thoughtsTokenCount: 300,
      toolUsePromptTokenCount: 10,
      totalTokenCount: 470,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 120 }],
      trafficType: 'ON_DEMAND',
    };
    expect(geminiUsage(usageMetadata)).toEqual({
      promptTokens: 130,
      completionTokens: 340,
      totalTokens: 470,
      cacheReadTokens: 100,
      reasoningTokens: 300,
    });
  });

  it('takes a chunk without candidates yet', () => {
    expect(geminiUsage({ promptTokenCount: 8, totalTokenCount: 8 })).toEqual({ promptTokens: 8, completionTokens: 0, totalTokens: 8 });
    expect(geminiUsage({ candidatesTokenCount: 3 })).toBeUndefined();
  });
});

describe('langChainUsage', () => {
  it('reads usage_metadata (input_tokens already sums every input type)', () => {
    const usage = {
      input_tokens: 350,
      output_tokens: 240,
      total_tokens: 590,
      input_token_details: { audio: 10, cache_creation: 200, cache_read: 100 },
      output_token_details: { audio: 10, reasoning: 200 },
    };
    expect(langChainUsage(usage)).toEqual({
      promptTokens: 350,
      completionTokens: 240,
      totalTokens: 590,
      cacheReadTokens: 100,
      cacheWriteTokens: 200,
      reasoningTokens: 200,
    });
  });
});

describe('aiSdkUsage', () => {
  it('reads the flat V2 provider usage (ai 5)', () => {
    expect(aiSdkUsage({ inputTokens: 50, outputTokens: 20, totalTokens: 70, reasoningTokens: 5, cachedInputTokens: 30 })).toEqual({
      promptTokens: 50,
      completionTokens: 20,
      totalTokens: 70,
      cacheReadTokens: 30,
      reasoningTokens: 5,
    });
  });

  it('reads the nested V3/V4 provider usage (ai 6/7), summing the parts when total is missing', () => {
    const usage = {
      inputTokens: { total: 1_100, noCache: 100, cacheRead: 900, cacheWrite: 100 },
      outputTokens: { total: 60, text: 40, reasoning: 20 },
      raw: { input_tokens: 100 },
    };
    expect(aiSdkUsage(usage)).toEqual({ promptTokens: 1_100, completionTokens: 60, totalTokens: 1_160, cacheReadTokens: 900, cacheWriteTokens: 100, reasoningTokens: 20 });
    expect(aiSdkUsage({ inputTokens: { total: undefined, noCache: 7, cacheRead: 3, cacheWrite: undefined }, outputTokens: { total: undefined, text: 2, reasoning: undefined } })).toEqual({
      promptTokens: 10,
      completionTokens: 2,
      totalTokens: 12,
      cacheReadTokens: 3,
    });
    expect(aiSdkUsage({ inputTokens: { total: undefined }, outputTokens: { total: undefined } })).toBeUndefined();
  });

  it('reads the result-level usage of ai 6/7', () => {
    const usage = {
      inputTokens: 10,
      inputTokenDetails: { noCacheTokens: 6, cacheReadTokens: 4, cacheWriteTokens: 0 },
      outputTokens: 8,
      outputTokenDetails: { textTokens: 5, reasoningTokens: 3 },
      totalTokens: 18,
    };
    expect(aiSdkUsage(usage)).toEqual({ promptTokens: 10, completionTokens: 8, totalTokens: 18, cacheReadTokens: 4, reasoningTokens: 3 });
  });
});
