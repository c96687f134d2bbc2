/**
 * `token-usage-repository/langchain`: a LangChain.js callback handler keyed by `runId`, plus a
 * `.stream()` wrapper (a consumer `break` fires no callback). Structural types only: the handler is a
 * plain methods object, which LangChain wraps itself; this module never imports `@langchain/core`.
 */
import { QuotaExceededError, ValidationError } from '../../../domain/errors.js';
import { langChainUsage } from '../../../domain/provider-usage.js';
import type { ActualUsage, Reservation, ReserveResult } from '../../../domain/reservation.js';
import { usageSoFar } from '../../../domain/stream-guard.js';
import type { StreamEnd } from '../../../domain/stream-guard.js';
import type { RecordOutcome } from '../../../ports/usage-store.js';
import { DEFAULT_MAX_OUTPUT_TOKENS, maxOutputOf, OutputCounter, promptCharacters, tokensOfText } from '../metering.js';
import type { TokenEstimate } from '../metering.js';

export type { TokenEstimate } from '../metering.js';

/** The part of `TokenUsageRepository` the handler uses (it settles reservations itself). */
export interface ReservingRepository {
  reserve(userId: string, tokens: number, options?: { leaseMs?: number }): Promise<ReserveResult>;
  commit(reservation: Reservation, usage: ActualUsage, options?: { idempotencyKey?: string }): Promise<RecordOutcome>;
  release(reservation: Reservation): Promise<boolean>;
}

/** What the handler knows when a run starts. */
export interface LangChainRunStart {
  /** The prompt messages (chat models) or prompt strings (LLMs). */
  readonly prompt: unknown;
  /** `extraParams.invocation_params`: the model's call settings (`max_tokens`, `model`, ...). */
  readonly invocationParams: Record<string, unknown>;
  /** The run's metadata (`config.metadata`), e.g. where the caller put its user id. */
  readonly metadata: Record<string, unknown>;
  readonly runId: string;
}

/** Options of {@link tokenUsageCallbacks}. */
export interface LangChainMeteringOptions {
  readonly repo: ReservingRepository;
  readonly userId?: string;
  /** Picks the user per run, e.g. `({ metadata }) => metadata.userId`. */
  readonly resolveUser?: (run: LangChainRunStart) => string;
  /** Replaces the default estimate (prompt characters / 4 + `max_tokens`/`max_completion_tokens`/`maxOutputTokens`). */
  readonly estimate?: (run: LangChainRunStart) => TokenEstimate;
  readonly defaultMaxOutputTokens?: number;
  readonly leaseMs?: number;
}

interface OpenRun {
  readonly reservation: Reservation;
  readonly promptTokens: number;
  readonly output: OutputCounter;
}

/** The handler: pass it in `callbacks`; `stream()` meters a `.stream()` call that may be broken out of. */
export interface TokenUsageCallbacks {
  /** Makes LangChain await each handler and propagate its errors: the only way a handler can deny a call. */
  readonly raiseError: true;
  readonly awaitHandlers: true;
  handleChatModelStart(llm: unknown, messages: unknown[][], runId: string, parentRunId?: string, extraParams?: Record<string, unknown>, tags?: string[], metadata?: Record<string, unknown>): Promise<void>;
  handleLLMStart(llm: unknown, prompts: string[], runId: string, parentRunId?: string, extraParams?: Record<string, unknown>, tags?: string[], metadata?: Record<string, unknown>): Promise<void>;
  handleLLMNewToken(token: string, idx: unknown, runId: string): void;
  handleLLMEnd(output: { generations?: unknown; llmOutput?: Record<string, unknown> }, runId: string): Promise<void>;
  handleLLMError(error: unknown, runId: string): Promise<void>;
  /**
   * Runs `model.stream(input, config)` under a fresh `runId`, with this handler in its callbacks, and
   * settles the run when the consumer stops early (a `break` fires no LangChain callback).
   */
  stream<T>(model: { stream(input: never, config?: never): Promise<AsyncIterable<T>> }, input: unknown, config?: Record<string, unknown>): AsyncGenerator<T>;
  /** Runs still holding a reservation (for tests and shutdown). */
  readonly openRuns: number;
}

/**
 * A LangChain callback handler that reserves in `handleChatModelStart`/`handleLLMStart` (a denial
 * throws `QuotaExceededError` before the model is called), commits `usage_metadata` in `handleLLMEnd`
 * under the key `langchain:<runId>`, and on `handleLLMError` releases, or commits what was streamed.
 */
export function tokenUsageCallbacks(options: LangChainMeteringOptions): TokenUsageCallbacks {
  const { repo, userId, resolveUser, estimate, leaseMs } = options;
  if (typeof repo?.reserve !== 'function' || typeof repo.commit !== 'function') throw new ValidationError('USAGE.INVALID_OPTION', 'repo', repo, 'repo must be a TokenUsageRepository');
  if ((userId === undefined) === (resolveUser === undefined)) throw new ValidationError('USAGE.INVALID_OPTION', 'userId', userId, 'give exactly one of userId and resolveUser');
  const fallback = options.defaultMaxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  const runs = new Map<string, OpenRun>();

  async function start(prompt: unknown, runId: string, extraParams: Record<string, unknown> | undefined, metadata: Record<string, unknown> | undefined): Promise<void> {
    const run: LangChainRunStart = { prompt, runId, invocationParams: (extraParams?.['invocation_params'] as Record<string, unknown> | undefined) ?? {}, metadata: metadata ?? {} };
    const { promptTokens, maxOutputTokens } = estimate?.(run) ?? defaultEstimate(run, fallback);
    const user = userId ?? (resolveUser as (run: LangChainRunStart) => string)(run);
    const result = await repo.reserve(user, promptTokens + maxOutputTokens, leaseMs === undefined ? {} : { leaseMs });
    if (!result.granted) {
      const { reason, currentUsage, reserved, limit, remaining } = result;
      throw new QuotaExceededError({ reason, currentUsage, reserved, limit, remaining, requested: promptTokens + maxOutputTokens });
    }
    runs.set(runId, { reservation: result.reservation, promptTokens, output: new OutputCounter() });
  }

  /** Settlements in flight, by run: a second settler (the stream's `finally` after `handleLLMError`) waits for the first. */
  const settling = new Map<string, Promise<void>>();

  /** Settles a run once (the map entry is taken first, so a late callback finds nothing but the settlement in flight). */
  function settle(runId: string, end: StreamEnd, usage: ActualUsage | undefined): Promise<void> {
    const inFlight = settling.get(runId);
    if (inFlight !== undefined) return inFlight;
    const run = runs.get(runId);
    if (run === undefined) return Promise.resolve();
    runs.delete(runId);
    const work = settleRun(run, runId, end, usage).finally(() => settling.delete(runId));
    settling.set(runId, work);
    return work;
  }

  async function settleRun(run: OpenRun, runId: string, end: StreamEnd, usage: ActualUsage | undefined): Promise<void> {
    if (usage !== undefined) {
      await repo.commit(run.reservation, usage, { idempotencyKey: `langchain:${runId}` });
      return;
    }
    const output = run.output.tokens;
    // A failed call that streamed nothing was not billed; anything stopped after output started was.
    if (end === 'error' && output === 0) {
      await repo.release(run.reservation);
      return;
    }
    await repo.commit(run.reservation, usageSoFar(output === 0 ? undefined : { completionTokens: output }, run.promptTokens, run.reservation.tokens), { idempotencyKey: `langchain:${runId}` });
  }

  const handler: TokenUsageCallbacks = {
    raiseError: true,
    awaitHandlers: true,
    async handleChatModelStart(_llm, messages, runId, _parent, extraParams, _tags, metadata) {
      await start(messages.flat().map(messageContent), runId, extraParams, metadata);
    },
    async handleLLMStart(_llm, prompts, runId, _parent, extraParams, _tags, metadata) {
      await start(prompts, runId, extraParams, metadata);
    },
    handleLLMNewToken(token, _idx, runId) {
      runs.get(runId)?.output.add(token);
    },
    async handleLLMEnd(output, runId) {
      await settle(runId, 'completed', usageOfResult(output));
    },
    async handleLLMError(error, runId) {
      const aborted = (error as { name?: unknown } | null)?.name === 'AbortError' || /abort/i.test(String((error as { message?: unknown } | null)?.message));
      await settle(runId, aborted ? 'aborted' : 'error', undefined);
    },
    async *stream(model, input, config = {}) {
      const runId = globalThis.crypto.randomUUID();
      const callbacks = [...((config['callbacks'] as unknown[] | undefined) ?? []), handler];
      // Our own signal too: an early exit must stop the HTTP read, or the SDK's cleanup waits on it.
      const controller = new AbortController();
      const callerSignal = config['signal'] as AbortSignal | undefined;
      const signal = callerSignal === undefined ? controller.signal : AbortSignal.any([callerSignal, controller.signal]);
      const source = await model.stream(input as never, { ...config, runId, callbacks, signal } as never);
      const iterator = source[Symbol.asyncIterator]();
      let finished = false;
      try {
        for (;;) {
          const next = await iterator.next();
          if (next.done === true) {
            finished = true; // handleLLMEnd has settled the run
            return;
          }
          yield next.value;
        }
      } finally {
        if (!finished) {
          // A consumer break fires no LangChain callback: settle the run here, then stop the request.
          await settle(runId, 'abandoned', undefined);
          controller.abort();
          await iterator.return?.().catch(() => undefined);
        }
      }
    },
    get openRuns() {
      return runs.size;
    },
  };
  return handler;
}

function messageContent(message: unknown): unknown {
  return typeof message === 'object' && message !== null && 'content' in message ? (message as { content: unknown }).content : message;
}

function defaultEstimate(run: LangChainRunStart, fallback: number): TokenEstimate {
  return {
    promptTokens: tokensOfText(promptCharacters(run.prompt)),
    maxOutputTokens: maxOutputOf(run.invocationParams, ['max_completion_tokens', 'max_tokens', 'maxOutputTokens', 'max_output_tokens'], fallback),
  };
}

/** `generations[0][0].message.usage_metadata`, else the legacy `llmOutput.tokenUsage`. */
function usageOfResult(output: { generations?: unknown; llmOutput?: Record<string, unknown> }): ActualUsage | undefined {
  const first = (output?.generations as Array<Array<{ message?: { usage_metadata?: unknown } }>> | undefined)?.[0]?.[0];
  const standard = langChainUsage(first?.message?.usage_metadata);
  if (standard !== undefined) return standard;
  const legacy = output?.llmOutput?.['tokenUsage'] as { promptTokens?: unknown; completionTokens?: unknown } | undefined;
  const prompt = legacy?.promptTokens;
  const completion = legacy?.completionTokens;
  return Number.isSafeInteger(prompt) && Number.isSafeInteger(completion) ? { promptTokens: prompt as number, completionTokens: completion as number } : undefined;
}
