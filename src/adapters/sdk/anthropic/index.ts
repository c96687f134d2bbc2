/**
 * `token-usage-repository/anthropic`: meters an `@anthropic-ai/sdk` client's `messages.create`
 * (streaming or not) and `messages.stream`. Structural types only: this module never imports the SDK.
 */
import { anthropicUsage } from '../../../domain/provider-usage.js';
import type { NormalizedUsage } from '../../../domain/provider-usage.js';
import type { GuardedStream, StreamMeter, StreamSettlement } from '../../../domain/stream-guard.js';
import { callPlanner, guardOptionsOf, maxOutputOf, OutputCounter, overrideMethod, promptCharacters, tokensOfText, withSignal } from '../metering.js';
import type { MeteringOptions, TokenEstimate } from '../metering.js';

export { settlementOf } from '../metering.js';
export type { MeteringOptions, MeteringRepository, TokenEstimate } from '../metering.js';

type Body = Record<string, unknown>;
type RequestOptions = { signal?: AbortSignal | null; [option: string]: unknown } | undefined;
type Result = { readonly id?: unknown; readonly usage?: unknown } | null | undefined;

/** The shape of an Anthropic client this adapter needs. */
export interface AnthropicLike {
  readonly messages: {
    create: (body: never, options?: never) => PromiseLike<unknown>;
    stream?: (body: never, options?: never) => AsyncIterable<unknown> & { finalMessage(): Promise<unknown> };
  };
}

/** Default estimate: characters of `system`, `messages` and `tools` / 4 + `max_tokens`. */
export function estimateAnthropic(body: Body, defaultMaxOutput: number): TokenEstimate {
  return {
    promptTokens: tokensOfText(promptCharacters([body['system'], body['messages'], body['tools']])),
    maxOutputTokens: maxOutputOf(body, ['max_tokens'], defaultMaxOutput),
  };
}

/**
 * Returns a view of `client` whose `messages.create` and `messages.stream` reserve before the call and
 * commit the provider's usage with the FULL input (`input_tokens` + cache creation + cache read), keyed
 * by `message.id`. Cumulative `message_delta` counts overwrite, never add. A stream stopped early is
 * charged the input `message_start` reported plus the output so far. A denial throws
 * `QuotaExceededError` and never reaches the API. `messages.stream` returns an async iterable with
 * `finalMessage()`, `abort()` and `controller`, not the SDK's `MessageStream` (no `.on()` events).
 */
export function meterAnthropic<C extends AnthropicLike>(client: C, options: MeteringOptions<Body>): C {
  const plan = callPlanner(options, estimateAnthropic);
  const { repo } = options;
  const messages = client.messages;
  const create = messages.create.bind(messages) as (body: Body, options?: RequestOptions) => PromiseLike<unknown>;
  let wrapped = overrideMethod(client, ['messages', 'create'], async (body: Body, requestOptions?: RequestOptions) => {
    const call = plan(body);
    if (body['stream'] !== true) {
      return repo.guard(call.userId, { ...guardOptionsOf(call, requestOptions?.signal), extractUsage: (r: Result) => anthropicUsage(r?.usage), idempotencyKeyFrom: messageKey }, (signal) =>
        create(body, withSignal(requestOptions, signal)) as Promise<Result>,
      );
    }
    return repo.guardStream(call.userId, guardOptionsOf(call, requestOptions?.signal), async (signal) => (await create(body, withSignal(requestOptions, signal))) as AsyncIterable<AnthropicEvent>, anthropicMeter());
  });
  const stream = messages.stream?.bind(messages) as ((body: Body, options?: RequestOptions) => AsyncIterable<AnthropicEvent> & { finalMessage(): Promise<unknown> }) | undefined;
  if (stream !== undefined) {
    wrapped = overrideMethod(wrapped, ['messages', 'stream'], (body: Body, requestOptions?: RequestOptions) => {
      let source: { finalMessage(): Promise<unknown> } | undefined;
      const call = plan(body);
      const guarded = repo.guardStream(call.userId, guardOptionsOf(call, requestOptions?.signal), async (signal) => (source = stream(body, withSignal(requestOptions, signal))), anthropicMeter());
      return new MeteredMessageStream(guarded, () => source);
    });
  }
  return wrapped;
}



const messageKey = (result: Result): string | undefined => (typeof result?.id === 'string' ? `anthropic:${result.id}` : undefined);

interface AnthropicEvent {
  readonly type?: string;
  readonly message?: { readonly id?: unknown; readonly usage?: Record<string, unknown> };
  readonly usage?: Record<string, unknown>;
  readonly delta?: { readonly text?: unknown; readonly partial_json?: unknown; readonly thinking?: unknown };
}

/**
 * `message_start` carries the input and cache counts; each `message_delta` carries CUMULATIVE counts
 * (so they overwrite, never add); output between them is counted locally from the deltas.
 */
function anthropicMeter(): StreamMeter<AnthropicEvent> {
  let id: string | undefined;
  let reported: Record<string, unknown> | undefined;
  let final: NormalizedUsage | undefined;
  const output = new OutputCounter();
  const merge = (usage: Record<string, unknown> | undefined): void => {
    if (usage === undefined) return;
    const present = Object.fromEntries(Object.entries(usage).filter(([, value]) => value !== null && value !== undefined));
    reported = { ...reported, ...present };
  };
  return {
    observe(event) {
      if (event.type === 'message_start') {
        if (typeof event.message?.id === 'string') id = event.message.id;
        merge(event.message?.usage);
      } else if (event.type === 'content_block_delta') {
        output.add(event.delta?.text);
        output.add(event.delta?.partial_json);
        output.add(event.delta?.thinking);
      } else if (event.type === 'message_delta') {
        merge(event.usage);
        final = anthropicUsage(reported) ?? final;
      }
    },
    finalUsage: () => final,
    partialUsage: () => {
      const known = anthropicUsage(reported);
      if (known === undefined) return output.tokens === 0 ? undefined : { completionTokens: output.tokens };
      const { totalTokens: _total, ...parts } = known;
      return { ...parts, completionTokens: Math.max(known.completionTokens, output.tokens) };
    },
    responseId: () => (id === undefined ? undefined : `anthropic:${id}`),
  };
}

/** What `messages.stream()` returns: iterate the events, or await `finalMessage()`; both are metered. */
class MeteredMessageStream implements AsyncIterable<AnthropicEvent> {
  readonly #guarded: Promise<GuardedStream<AnthropicEvent>>;
  readonly #source: () => { finalMessage(): Promise<unknown> } | undefined;
  #iterated = false;

  constructor(guarded: Promise<GuardedStream<AnthropicEvent>>, source: () => { finalMessage(): Promise<unknown> } | undefined) {
    this.#guarded = guarded;
    this.#source = source;
    guarded.catch(() => undefined); // a denial surfaces where the caller awaits, never as an unhandled rejection
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<AnthropicEvent> {
    this.#iterated = true;
    yield* await this.#guarded;
  }

  /** The accumulated message, once the stream is done (it is drained here when nobody iterates it). */
  async finalMessage(): Promise<unknown> {
    const guarded = await this.#guarded;
    if (!this.#iterated) {
      this.#iterated = true;
      for await (const _ of guarded) void _;
    }
    await guarded.settled;
    return this.#source()?.finalMessage();
  }

  /** Resolves once the usage is committed or the reservation released. */
  get settled(): Promise<StreamSettlement> {
    return this.#guarded.then((guarded) => guarded.settled);
  }

  async abort(): Promise<StreamSettlement> {
    return (await this.#guarded).abort();
  }
}
