/**
 * `token-usage-repository/ai-sdk`: a language-model middleware for the AI SDK's `wrapLanguageModel`,
 * for the v2 (ai 5), v3 (ai 6) and v4 (ai 7) middleware specifications. Structural types only.
 */
import { aiSdkUsage } from '../../../domain/provider-usage.js';
import type { NormalizedUsage } from '../../../domain/provider-usage.js';
import type { GuardedStream, StreamMeter, StreamSettlement } from '../../../domain/stream-guard.js';
import { callPlanner, guardOptionsOf, OutputCounter, promptCharacters, tokensOfText } from '../metering.js';
import type { MeteringOptions, TokenEstimate } from '../metering.js';

export { settlementOf } from '../metering.js';
export type { MeteringOptions, MeteringRepository, TokenEstimate } from '../metering.js';

/** The call options a middleware sees (`LanguageModelV2/V3/V4CallOptions`), as far as metering reads them. */
export interface AiSdkCallOptions {
  readonly prompt?: unknown;
  readonly maxOutputTokens?: number;
  readonly abortSignal?: AbortSignal;
  readonly providerOptions?: Record<string, Record<string, unknown> | undefined>;
  readonly [option: string]: unknown;
}

interface GenerateResult {
  readonly usage?: unknown;
  readonly response?: { readonly id?: unknown };
}

interface StreamResult {
  readonly stream: ReadableStream<unknown>;
}

/** A middleware specification version: 'v2' for ai 5, 'v3' for ai 6, 'v4' for ai 7. */
export type MiddlewareVersion = 'v2' | 'v3' | 'v4';

/** The middleware: give it to `wrapLanguageModel({ model, middleware })`. */
export type TokenUsageMiddleware<V extends MiddlewareVersion = 'v4'> = (V extends 'v2'
  ? { readonly middlewareVersion: 'v2' }
  : { readonly specificationVersion: V }) &
  MiddlewareHooks;

/** The hooks of {@link TokenUsageMiddleware}. */
export interface MiddlewareHooks {
  wrapGenerate(options: { doGenerate: () => PromiseLike<unknown>; params: AiSdkCallOptions }): Promise<never>;
  wrapStream(options: { doStream: () => PromiseLike<unknown>; params: AiSdkCallOptions }): Promise<never>;
}

/** Options of {@link tokenUsageMiddleware}. */
export interface TokenUsageMiddlewareOptions<V extends MiddlewareVersion = 'v4'> extends MeteringOptions<AiSdkCallOptions> {
  /** The middleware specification to declare: 'v2' for ai 5, 'v3' for ai 6, 'v4' (default) for ai 7. */
  readonly specificationVersion?: V;
  /** Called once per streamed step when its usage is committed or its reservation released (e.g. for logs). */
  readonly onStreamSettled?: (settlement: StreamSettlement) => void;
}

/** Default estimate: characters of the prompt / 4 + `maxOutputTokens`. */
export function estimateAiSdk(params: AiSdkCallOptions, defaultMaxOutput: number): TokenEstimate {
  const max = params.maxOutputTokens;
  return {
    promptTokens: tokensOfText(promptCharacters(params.prompt)),
    maxOutputTokens: Number.isSafeInteger(max) && (max as number) >= 0 ? (max as number) : defaultMaxOutput,
  };
}

/**
 * Reserves before each `doGenerate`/`doStream` (so one reservation per step of a tool loop), commits
 * the step's usage (keyed by the response id) and releases when the provider call fails. A denial
 * throws `QuotaExceededError` before the provider is called; the AI SDK does not retry it. A stream
 * commits on its `finish` part, or, when cancelled or aborted first, the prompt + output so far.
 */
export function tokenUsageMiddleware<V extends MiddlewareVersion = 'v4'>(options: TokenUsageMiddlewareOptions<V>): TokenUsageMiddleware<V> {
  const plan = callPlanner(options, estimateAiSdk);
  const { repo } = options;
  const version: MiddlewareVersion = options.specificationVersion ?? 'v4';
  const hooks: MiddlewareHooks = {
    async wrapGenerate({ doGenerate, params }) {
      const call = plan(params);
      const result = await repo.guard(
        call.userId,
        { ...guardOptionsOf(call, params.abortSignal), extractUsage: (r: GenerateResult) => aiSdkUsage(r?.usage), idempotencyKeyFrom: responseKey },
        async () => (await doGenerate()) as GenerateResult,
      );
      return result as never;
    },
    async wrapStream({ doStream, params }) {
      const call = plan(params);
      let result: StreamResult | undefined;
      const guarded = await repo.guardStream(call.userId, guardOptionsOf(call, params.abortSignal), async () => {
        result = (await doStream()) as StreamResult;
        return iterate(result.stream);
      }, aiSdkMeter());
      const { onStreamSettled } = options;
      if (onStreamSettled !== undefined) void guarded.settled.then(onStreamSettled);
      return { ...result, stream: readable(guarded) } as never;
    },
  };
  const declared = version === 'v2' ? { middlewareVersion: 'v2' as const } : { specificationVersion: version };
  return { ...declared, ...hooks } as unknown as TokenUsageMiddleware<V>;
}


const responseKey = (result: GenerateResult): string | undefined => {
  const id = result?.response?.id;
  return typeof id === 'string' && id !== '' ? `ai-sdk:${id}` : undefined;
};

/** A web ReadableStream as an async iterable whose `return()` cancels it (so the request stops). */
async function* iterate<T>(stream: ReadableStream<T>): AsyncGenerator<T> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** The metered stream as the ReadableStream the AI SDK expects; a cancel is an abandonment. */
function readable<T>(guarded: GuardedStream<T>): ReadableStream<T> {
  const iterator = guarded[Symbol.asyncIterator]();
  return new ReadableStream<T>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done === true) controller.close();
        else controller.enqueue(next.value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

interface StreamPart {
  readonly type?: string;
  readonly id?: unknown;
  readonly delta?: unknown;
  /** ai 4 and earlier named the text delta `textDelta`. */
  readonly textDelta?: unknown;
  readonly usage?: unknown;
}

/** Stream parts: `response-metadata` has the id, deltas are counted, `finish` carries the step's usage. */
function aiSdkMeter(): StreamMeter<StreamPart> {
  let id: string | undefined;
  let final: NormalizedUsage | undefined;
  const output = new OutputCounter();
  return {
    observe(part) {
      if (part.type === 'response-metadata' && typeof part.id === 'string') id = part.id;
      else if (part.type === 'text-delta' || part.type === 'reasoning-delta' || part.type === 'tool-input-delta') output.add(part.delta ?? part.textDelta);
      else if (part.type === 'finish') final = aiSdkUsage(part.usage) ?? final;
    },
    finalUsage: () => final,
    partialUsage: () => (output.tokens === 0 ? undefined : { completionTokens: output.tokens }),
    responseId: () => (id === undefined ? undefined : `ai-sdk:${id}`),
  };
}
