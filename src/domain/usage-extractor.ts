import { aiSdkUsage, anthropicUsage, geminiUsage, langChainUsage, openAIChatUsage, openAIResponsesUsage } from './provider-usage.js';
import type { NormalizedUsage } from './provider-usage.js';
import type { ActualUsage } from './reservation.js';

/** Reads the token usage out of an LLM call's result; `undefined` when it cannot tell. */
export type UsageExtractor<T> = (result: T) => ActualUsage | undefined;

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** AI SDK 3/4 `{ promptTokens, completionTokens, totalTokens? }`, already in our shape. */
function legacyAiSdkUsage(fields: Record<string, unknown>): NormalizedUsage | undefined {
  const prompt = fields['promptTokens'];
  const completion = fields['completionTokens'];
  if (!isCount(prompt) || !isCount(completion)) return undefined;
  const total = fields['totalTokens'];
  return { promptTokens: prompt, completionTokens: completion, totalTokens: isCount(total) && total >= prompt + completion ? total : prompt + completion };
}

/**
 * Reads `usage` in the shape of OpenAI chat (`prompt_tokens`), OpenAI responses (`input_tokens` with
 * `input_tokens_details`), Anthropic (`input_tokens` + the cache fields, which it adds: Anthropic's
 * `input_tokens` is only the uncached part), the AI SDK (flat v5, nested v6/v7, legacy v3/v4),
 * Gemini's `usageMetadata` and LangChain's `usage_metadata`. A total below prompt + completion is ignored.
 */
export const defaultUsageExtractor: UsageExtractor<unknown> = (result) => {
  if (typeof result !== 'object' || result === null) return undefined;
  const { usage, usageMetadata, usage_metadata: langChain } = result as Record<string, unknown>;
  if (usageMetadata !== undefined) return geminiUsage(usageMetadata);
  if (langChain !== undefined) return langChainUsage(langChain);
  if (typeof usage !== 'object' || usage === null) return undefined;
  const fields = usage as Record<string, unknown>;
  if ('prompt_tokens' in fields) return openAIChatUsage(fields);
  if ('input_tokens' in fields) {
    const anthropic = 'cache_read_input_tokens' in fields || 'cache_creation_input_tokens' in fields || !('total_tokens' in fields);
    return anthropic ? anthropicUsage(fields) : openAIResponsesUsage(fields);
  }
  if ('inputTokens' in fields || 'outputTokens' in fields) return aiSdkUsage(fields);
  return legacyAiSdkUsage(fields);
};
