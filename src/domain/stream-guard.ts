import type { ActualUsage } from './reservation.js';

/**
 * What a streaming adapter reads out of its provider's events. `guardStream` calls `observe` on each
 * event before the consumer sees it, and asks for the usage once, when the stream settles.
 */
export interface StreamMeter<E> {
  /** Reads one event, in order. Must not throw (a bad event is skipped, the consumer still gets it). */
  observe(event: E): void;
  /** The provider's final usage, once a terminal event carried it (OpenAI usage chunk, Anthropic `message_delta`, ...). */
  finalUsage(): ActualUsage | undefined;
  /**
   * What is known before the end: counts the provider already reported (Anthropic `message_start`
   * gives the input and cache counts) and the output counted locally (e.g. streamed characters / 4).
   */
  partialUsage(): ActualUsage | undefined;
  /** The provider's response id (OpenAI `id`, Anthropic `message.id`, Gemini `responseId`), once seen. */
  responseId(): string | undefined;
}

/** Options of one guarded stream. */
export interface StreamGuardOptions {
  /** Tokens to reserve before the call: an upper estimate of prompt + completion. */
  readonly estimateTokens: number;
  /** Overrides the provider response id as the commit's idempotency key. */
  readonly idempotencyKey?: string;
  readonly cycleStartDate?: string;
  /** Overrides the configured lease, in ms. */
  readonly leaseMs?: number;
  /** Aborts the stream: the usage so far is committed at once (see the charging policy). */
  readonly signal?: AbortSignal;
  /** Prompt tokens counted locally: charged when the stream stops before the provider reported its input. */
  readonly promptTokens?: number;
}

/** How a guarded stream ended. */
export type StreamEnd = 'completed' | 'error' | 'abandoned' | 'aborted';

/** What a guarded stream did with its reservation, once. */
export interface StreamSettlement {
  readonly end: StreamEnd;
  /** `failed` when the store could not be written: the lease then holds the estimate until it expires. */
  readonly action: 'committed' | 'released' | 'failed';
  /** The usage committed (for `committed`). */
  readonly usage?: ActualUsage;
  /** True when the idempotency key (e.g. the response id) had been committed already. */
  readonly duplicate?: boolean;
  /** Why settling failed (for `failed`). */
  readonly error?: unknown;
}

/** A metered stream: iterate it once, as the SDK's own stream. */
export interface GuardedStream<E> extends AsyncIterable<E> {
  /** Resolves once the usage is committed or the reservation released; never rejects. */
  readonly settled: Promise<StreamSettlement>;
  /** Stops the stream now: aborts the provider request and commits the usage so far. */
  abort(reason?: unknown): Promise<StreamSettlement>;
  /** Aborting it is the same as `abort()` (the openai and Anthropic streams have one too). */
  readonly controller: AbortController;
}

/**
 * The charging policy of a stream that did not report its final usage: what the provider reported so
 * far, else the locally counted prompt, plus the output counted so far. Never zero once the request
 * was sent: with nothing known at all, the estimate is charged as total tokens.
 */
export function usageSoFar(partial: ActualUsage | undefined, localPrompt: number | undefined, estimate: number): ActualUsage {
  const prompt = partial?.promptTokens ?? localPrompt ?? 0;
  const completion = partial?.completionTokens ?? 0;
  if (prompt + completion === 0) return { totalTokens: estimate };
  const usage: ActualUsage = { ...partial, promptTokens: prompt, completionTokens: completion };
  const { totalTokens, ...rest } = usage;
  // A partial total is only trusted when it still covers the parts.
  return totalTokens !== undefined && totalTokens >= prompt + completion ? usage : rest;
}
