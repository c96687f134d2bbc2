/**
 * `token-usage-repository/google-genai`: meters a `@google/genai` client's `models.generateContent`
 * and `models.generateContentStream`. Structural types only: this module never imports the SDK.
 */
import { geminiUsage } from '../../../domain/provider-usage.js';
import type { NormalizedUsage } from '../../../domain/provider-usage.js';
import type { StreamMeter } from '../../../domain/stream-guard.js';
import { callPlanner, guardOptionsOf, maxOutputOf, OutputCounter, overrideMethod, promptCharacters, tokensOfText } from '../metering.js';
import type { MeteringOptions, TokenEstimate } from '../metering.js';

export { settlementOf } from '../metering.js';
export type { MeteringOptions, MeteringRepository, TokenEstimate } from '../metering.js';

type Params = { readonly contents?: unknown; readonly config?: Record<string, unknown>; readonly [field: string]: unknown };
type Result = { readonly responseId?: unknown; readonly usageMetadata?: unknown } | null | undefined;
type Call = (params: never) => PromiseLike<unknown>;

/** The shape of a Google Gen AI client this adapter needs. */
export interface GoogleGenAILike {
  readonly models: { generateContent: Call; generateContentStream: Call };
}

/** Default estimate: characters of `contents`, `config.systemInstruction` and `config.tools` / 4 + `config.maxOutputTokens`. */
export function estimateGoogleGenAI(params: Params, defaultMaxOutput: number): TokenEstimate {
  const config = params.config ?? {};
  return {
    promptTokens: tokensOfText(promptCharacters([params.contents, config['systemInstruction'], config['tools']])),
    maxOutputTokens: maxOutputOf(config, ['maxOutputTokens'], defaultMaxOutput),
  };
}

/**
 * Returns a view of `client` whose `models.generateContent` and `models.generateContentStream`
 * reserve first, commit `usageMetadata` (thoughts count as output) keyed by `responseId`, and release
 * on errors. Our abort signal is set as `config.abortSignal`. Gemini bills an aborted request anyway
 * (the abort is client-side only); what is committed then is the usage reported so far, else the local
 * prompt count, plus the output received.
 */
export function meterGoogleGenAI<C extends GoogleGenAILike>(client: C, options: MeteringOptions<Params>): C {
  const plan = callPlanner(options, estimateGoogleGenAI);
  const { repo } = options;
  const models = client.models;
  const generate = models.generateContent.bind(models) as (params: Params) => PromiseLike<unknown>;
  const generateStream = models.generateContentStream.bind(models) as (params: Params) => PromiseLike<AsyncIterable<Chunk>>;
  const wrapped = overrideMethod(client, ['models', 'generateContent'], async (params: Params) => {
    const call = plan(params);
    return repo.guard(call.userId, { ...guardOptionsOf(call, params.config?.['abortSignal'] as AbortSignal | undefined), extractUsage: (r: Result) => geminiUsage(r?.usageMetadata), idempotencyKeyFrom: responseKey }, (signal) =>
      generate(withSignal(params, signal)) as Promise<Result>,
    );
  });
  return overrideMethod(wrapped, ['models', 'generateContentStream'], async (params: Params) => {
    const call = plan(params);
    return repo.guardStream(call.userId, guardOptionsOf(call, params.config?.['abortSignal'] as AbortSignal | undefined), async (signal) => generateStream(withSignal(params, signal)), geminiMeter());
  });
}


function withSignal(params: Params, signal: AbortSignal | undefined): Params {
  return signal === undefined ? params : { ...params, config: { ...params.config, abortSignal: signal } };
}

const responseKey = (result: Result): string | undefined => (typeof result?.responseId === 'string' ? `gemini:${result.responseId}` : undefined);

interface Chunk {
  readonly responseId?: unknown;
  readonly usageMetadata?: unknown;
  readonly candidates?: ReadonlyArray<{ readonly finishReason?: unknown; readonly content?: { readonly parts?: ReadonlyArray<{ readonly text?: unknown }> } }>;
}

/** Chunks: the latest `usageMetadata` is what is known; it is final once a candidate has a `finishReason`. */
function geminiMeter(): StreamMeter<Chunk> {
  let id: string | undefined;
  let latest: NormalizedUsage | undefined;
  let finished = false;
  const output = new OutputCounter();
  return {
    observe(chunk) {
      if (typeof chunk.responseId === 'string') id = chunk.responseId;
      if (chunk.usageMetadata !== undefined) latest = geminiUsage(chunk.usageMetadata) ?? latest;
      for (const candidate of chunk.candidates ?? []) {
        if (candidate.finishReason !== undefined && candidate.finishReason !== null) finished = true;
        for (const part of candidate.content?.parts ?? []) output.add(part.text);
      }
    },
    finalUsage: () => (finished ? latest : undefined),
    partialUsage: () => {
      if (latest === undefined) return output.tokens === 0 ? undefined : { completionTokens: output.tokens };
      const { totalTokens: _total, ...parts } = latest;
      return { ...parts, completionTokens: Math.max(latest.completionTokens, output.tokens) };
    },
    responseId: () => (id === undefined ? undefined : `gemini:${id}`),
  };
}
