/**
 * One usage normaliser per provider wire shape. Each maps what the provider reports into the same
 * {@link NormalizedUsage}, or `undefined` when the value is not that shape. Pure: no SDK is imported.
 */

/** Usage in one shape for every provider; prompt is the FULL input, completion includes reasoning. */
export interface NormalizedUsage {
  /** Every input token billed: uncached + cache reads + cache writes (+ tool-use prompt for Gemini). */
  readonly promptTokens: number;
  /** Every output token billed, reasoning/thinking included. */
  readonly completionTokens: number;
  /** The provider's total when it is >= prompt + completion, else their sum. */
  readonly totalTokens: number;
  /** Part of `promptTokens` read from a prompt cache. */
  readonly cacheReadTokens?: number;
  /** Part of `promptTokens` written to a prompt cache. */
  readonly cacheWriteTokens?: number;
  /** Part of `completionTokens` spent on reasoning/thinking. */
  readonly reasoningTokens?: number;
}

type Fields = Record<string, unknown>;

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const asObject = (value: unknown): Fields | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
/** A count, or 0 for an absent/null/bad field (providers send `null` for "none"). */
const count = (value: unknown): number => (isCount(value) ? value : 0);

function normalized(
  prompt: number,
  completion: number,
  reportedTotal: unknown,
  details: { cacheRead?: unknown; cacheWrite?: unknown; reasoning?: unknown },
): NormalizedUsage {
  const sum = prompt + completion;
  const usage: { -readonly [K in keyof NormalizedUsage]: NormalizedUsage[K] } = {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: isCount(reportedTotal) && reportedTotal >= sum ? reportedTotal : sum,
  };
  // Details are parts of prompt/completion; one that exceeds its whole is not trusted.
  const cacheRead = count(details.cacheRead);
  const cacheWrite = count(details.cacheWrite);
  const reasoning = count(details.reasoning);
  if (cacheRead > 0 && cacheRead + cacheWrite <= prompt) usage.cacheReadTokens = cacheRead;
  if (cacheWrite > 0 && cacheRead + cacheWrite <= prompt) usage.cacheWriteTokens = cacheWrite;
  if (reasoning > 0 && reasoning <= completion) usage.reasoningTokens = reasoning;
  return usage;
}

/** OpenAI Chat Completions `usage`: `prompt_tokens` already includes `cached_tokens`. */
export function openAIChatUsage(value: unknown): NormalizedUsage | undefined {
  const u = asObject(value);
  if (u === undefined || !isCount(u['prompt_tokens']) || !isCount(u['completion_tokens'])) return undefined;
  const prompt = asObject(u['prompt_tokens_details']) ?? {};
  const completion = asObject(u['completion_tokens_details']) ?? {};
  return normalized(u['prompt_tokens'], u['completion_tokens'], u['total_tokens'], {
    cacheRead: prompt['cached_tokens'],
    cacheWrite: prompt['cache_write_tokens'],
    reasoning: completion['reasoning_tokens'],
  });
}

/** OpenAI Responses `usage`: `input_tokens` already includes the cached part. */
export function openAIResponsesUsage(value: unknown): NormalizedUsage | undefined {
  const u = asObject(value);
  if (u === undefined || !isCount(u['input_tokens']) || !isCount(u['output_tokens'])) return undefined;
  const input = asObject(u['input_tokens_details']) ?? {};
  const output = asObject(u['output_tokens_details']) ?? {};
  return normalized(u['input_tokens'], u['output_tokens'], u['total_tokens'], {
    cacheRead: input['cached_tokens'],
    cacheWrite: input['cache_write_tokens'],
    reasoning: output['reasoning_tokens'],
  });
}

/**
 * Anthropic `Message.usage` (or a cumulative `message_delta` usage): `input_tokens` is only the
 * uncached part, so the full input adds `cache_creation_input_tokens` and `cache_read_input_tokens`.
 */
export function anthropicUsage(value: unknown): NormalizedUsage | undefined {
  const u = asObject(value);
  if (u === undefined || !isCount(u['input_tokens']) || !isCount(u['output_tokens'])) return undefined;
  const cacheRead = count(u['cache_read_input_tokens']);
  const cacheWrite = count(u['cache_creation_input_tokens']);
  const output = asObject(u['output_tokens_details']) ?? {};
  return normalized(u['input_tokens'] + cacheRead + cacheWrite, u['output_tokens'], undefined, {
    cacheRead,
    cacheWrite,
    reasoning: output['thinking_tokens'],
  });
}

/**
 * Gemini `usageMetadata`: `promptTokenCount` includes cached content; thoughts are billed as output,
 * and `totalTokenCount` = prompt + candidates + tool-use prompt + thoughts.
 */
export function geminiUsage(value: unknown): NormalizedUsage | undefined {
  const u = asObject(value);
  if (u === undefined || !isCount(u['promptTokenCount'])) return undefined;
  const thoughts = count(u['thoughtsTokenCount']);
  const prompt = u['promptTokenCount'] + count(u['toolUsePromptTokenCount']);
  return normalized(prompt, count(u['candidatesTokenCount']) + thoughts, u['totalTokenCount'], {
    cacheRead: u['cachedContentTokenCount'],
    reasoning: thoughts,
  });
}

/** LangChain `usage_metadata`: `input_tokens` is already the sum of every input token type. */
export function langChainUsage(value: unknown): NormalizedUsage | undefined {
  const u = asObject(value);
  if (u === undefined || !isCount(u['input_tokens']) || !isCount(u['output_tokens'])) return undefined;
  const input = asObject(u['input_token_details']) ?? {};
  const output = asObject(u['output_token_details']) ?? {};
  return normalized(u['input_tokens'], u['output_tokens'], u['total_tokens'], {
    cacheRead: input['cache_read'],
    cacheWrite: input['cache_creation'],
    reasoning: output['reasoning'],
  });
}

/**
 * AI SDK usage, any version: the flat V2 provider shape (ai 5), the nested V3/V4 provider shape
 * (`{ inputTokens: { total, noCache, cacheRead, cacheWrite }, outputTokens: { total, text, reasoning } }`,
 * ai 6/7 middleware), and the result-level shape with `inputTokenDetails`/`outputTokenDetails`.
 */
export function aiSdkUsage(value: unknown): NormalizedUsage | undefined {
  const u = asObject(value);
  if (u === undefined) return undefined;
  const nestedInput = asObject(u['inputTokens']);
  const nestedOutput = asObject(u['outputTokens']);
  if (nestedInput !== undefined || nestedOutput !== undefined) {
    const input = nestedInput ?? {};
    const output = nestedOutput ?? {};
    const prompt = isCount(input['total'])
      ? input['total']
      : count(input['noCache']) + count(input['cacheRead']) + count(input['cacheWrite']);
    const completion = isCount(output['total']) ? output['total'] : count(output['text']) + count(output['reasoning']);
    if (!isCount(input['total']) && !isCount(output['total']) && prompt + completion === 0) return undefined;
    return normalized(prompt, completion, undefined, {
      cacheRead: input['cacheRead'],
      cacheWrite: input['cacheWrite'],
      reasoning: output['reasoning'],
    });
  }
  if (!isCount(u['inputTokens']) && !isCount(u['outputTokens'])) return undefined;
  const inputDetails = asObject(u['inputTokenDetails']) ?? {};
  const outputDetails = asObject(u['outputTokenDetails']) ?? {};
  return normalized(count(u['inputTokens']), count(u['outputTokens']), u['totalTokens'], {
    cacheRead: inputDetails['cacheReadTokens'] ?? u['cachedInputTokens'],
    cacheWrite: inputDetails['cacheWriteTokens'],
    reasoning: outputDetails['reasoningTokens'] ?? u['reasoningTokens'],
  });
}
