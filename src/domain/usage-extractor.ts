import type { ActualUsage } from './reservation.js';

/** Reads the token usage out of an LLM call's result; `undefined` when it cannot tell. */
export type UsageExtractor<T> = (result: T) => ActualUsage | undefined;

const SHAPES: ReadonlyArray<readonly [prompt: string, completion: string, total: string]> = [
  ['prompt_tokens', 'completion_tokens', 'total_tokens'], // OpenAI chat completions
  ['input_tokens', 'output_tokens', 'total_tokens'], // Anthropic messages, OpenAI responses
  ['inputTokens', 'outputTokens', 'totalTokens'], // Vercel AI SDK 5
  ['promptTokens', 'completionTokens', 'totalTokens'], // Vercel AI SDK 3/4
];

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * Understands `{ usage: { prompt_tokens, completion_tokens } }` (OpenAI), `{ usage: { input_tokens,
 * output_tokens } }` (Anthropic), and `{ usage: { inputTokens, outputTokens } }` /
 * `{ usage: { promptTokens, completionTokens } }` (Vercel AI SDK). A total is taken when it is present
 * and not below prompt + completion.
 */
export const defaultUsageExtractor: UsageExtractor<unknown> = (result) => {
  if (typeof result !== 'object' || result === null) return undefined;
  const usage = (result as { usage?: unknown }).usage;
  if (typeof usage !== 'object' || usage === null) return undefined;
  const fields = usage as Record<string, unknown>;
  for (const [promptField, completionField, totalField] of SHAPES) {
    const prompt = fields[promptField];
    const completion = fields[completionField];
    if (!isCount(prompt) || !isCount(completion)) continue;
    const total = fields[totalField];
    return isCount(total) && total >= prompt + completion
      ? { promptTokens: prompt, completionTokens: completion, totalTokens: total }
      : { promptTokens: prompt, completionTokens: completion };
  }
  return undefined;
};
