/**
 * `token-usage-repository/openai`: meters an `openai` client's `chat.completions.create` and
 * `responses.create`, streaming or not. Structural types only: this module never imports `openai`.
 */
import { openAIChatUsage, openAIResponsesUsage } from '../../../domain/provider-usage.js';
import type { NormalizedUsage } from '../../../domain/provider-usage.js';
import type { StreamMeter } from '../../../domain/stream-guard.js';
import { callPlanner, guardOptionsOf, maxOutputOf, OutputCounter, overrideMethod, promptCharacters, tokensOfText, withSignal } from '../metering.js';
import type { CallPlan, MeteringOptions, TokenEstimate } from '../metering.js';

export { settlementOf } from '../metering.js';
export type { MeteringOptions, MeteringRepository, TokenEstimate } from '../metering.js';

type Body = Record<string, unknown>;
type RequestOptions = { signal?: AbortSignal | null; [option: string]: unknown } | undefined;
/** A non-streamed result, as far as metering reads it. */
type Result = { readonly id?: unknown; readonly usage?: unknown } | null | undefined;
type Create = (body: never, options?: never) => PromiseLike<unknown>;

/** The shape of an OpenAI client this adapter needs. */
export interface OpenAILike {
  readonly chat: { readonly completions: { create: Create } };
  readonly responses?: { create: Create };
}

/** Default estimate: prompt characters / 4 + `max_completion_tokens` / `max_tokens` / `max_output_tokens`. */
export function estimateOpenAI(body: Body, defaultMaxOutput: number): TokenEstimate {
  return {
    promptTokens: tokensOfText(promptCharacters([body['messages'], body['input'], body['instructions'], body['tools']])),
    maxOutputTokens: maxOutputOf(body, ['max_completion_tokens', 'max_tokens', 'max_output_tokens'], defaultMaxOutput),
  };
}

/**
 * Returns a view of `client` whose `chat.completions.create` and `responses.create` reserve before the
 * call, commit the provider's usage (keyed by the response id) and release on errors. Streaming calls
 * force `stream_options.include_usage` (the usage-only chunk is hidden unless the caller asked for it)
 * and resolve to a metered async iterable with `controller` (see {@link settlementOf}) in place of the
 * SDK's `Stream`: `tee()`, `toReadableStream()` and `.withResponse()` are not available on it. A denial throws `QuotaExceededError` and never reaches the API. The `signal` is passed on.
 */
export function meterOpenAI<C extends OpenAILike>(client: C, options: MeteringOptions<Body>): C {
  const plan = callPlanner(options, estimateOpenAI);
  const { repo } = options;
  const chat = client.chat.completions.create.bind(client.chat.completions) as (body: Body, options?: RequestOptions) => PromiseLike<unknown>;
  let wrapped = overrideMethod(client, ['chat', 'completions', 'create'], async (body: Body, requestOptions?: RequestOptions) => {
    const call = plan(body);
    if (body['stream'] !== true) {
      return repo.guard(user(call), { ...guardOptionsOf(call, requestOptions?.signal), extractUsage: (r: Result) => openAIChatUsage(r?.usage), idempotencyKeyFrom: responseKey }, (signal) =>
        chat(body, withSignal(requestOptions, signal)) as Promise<Result>,
      );
    }
    const askedForUsage = (body['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true;
    const meter = chatMeter();
    const streamBody = { ...body, stream_options: { ...(body['stream_options'] as object | undefined), include_usage: true } };
    return repo.guardStream(user(call), guardOptionsOf(call, requestOptions?.signal), async (signal) => {
      const stream = (await chat(streamBody, withSignal(requestOptions, signal))) as AsyncIterable<ChatChunk>;
      return askedForUsage ? stream : withoutUsageChunk(stream, meter);
    }, meter);
  });
  const responses = client.responses;
  if (responses !== undefined) {
    const create = responses.create.bind(responses) as (body: Body, options?: RequestOptions) => PromiseLike<unknown>;
    wrapped = overrideMethod(wrapped, ['responses', 'create'], async (body: Body, requestOptions?: RequestOptions) => {
      const call = plan(body);
      if (body['stream'] !== true) {
        return repo.guard(user(call), { ...guardOptionsOf(call, requestOptions?.signal), extractUsage: (r: Result) => openAIResponsesUsage(r?.usage), idempotencyKeyFrom: responseKey }, (signal) =>
          create(body, withSignal(requestOptions, signal)) as Promise<Result>,
        );
      }
      return repo.guardStream(user(call), guardOptionsOf(call, requestOptions?.signal), async (signal) => (await create(body, withSignal(requestOptions, signal))) as AsyncIterable<ResponseEvent>, responsesMeter());
    });
  }
  return wrapped;
}

const user = (call: CallPlan): string => call.userId;



const responseKey = (result: Result): string | undefined => (typeof result?.id === 'string' ? `openai:${result.id}` : undefined);

interface ChatChunk {
  readonly id?: string;
  readonly usage?: unknown;
  readonly choices?: ReadonlyArray<{ readonly delta?: { readonly content?: unknown; readonly refusal?: unknown; readonly tool_calls?: ReadonlyArray<{ readonly function?: { readonly arguments?: unknown } }> } }>;
}

/** Chat chunks: usage arrives in one last chunk with `choices: []`; output is counted from the deltas. */
function chatMeter(): StreamMeter<ChatChunk> {
  let id: string | undefined;
  let final: NormalizedUsage | undefined;
  const output = new OutputCounter();
  return {
    observe(chunk) {
      if (typeof chunk.id === 'string') id = chunk.id;
      if (chunk.usage !== null && chunk.usage !== undefined) final = openAIChatUsage(chunk.usage) ?? final;
      for (const choice of chunk.choices ?? []) {
        output.add(choice.delta?.content);
        output.add(choice.delta?.refusal);
        for (const call of choice.delta?.tool_calls ?? []) output.add(call.function?.arguments);
      }
    },
    finalUsage: () => final,
    partialUsage: () => (output.tokens === 0 ? undefined : { completionTokens: output.tokens }),
    responseId: () => (id === undefined ? undefined : `openai:${id}`),
  };
}

/** Hides the usage-only chunk from a caller that did not ask for it (its `choices` is empty), after metering it. */
async function* withoutUsageChunk(stream: AsyncIterable<ChatChunk>, meter: StreamMeter<ChatChunk>): AsyncGenerator<ChatChunk> {
  for await (const chunk of stream) {
    if (chunk.usage !== null && chunk.usage !== undefined && (chunk.choices?.length ?? 0) === 0) meter.observe(chunk);
    else yield chunk;
  }
}

interface ResponseEvent {
  readonly type?: string;
  readonly delta?: unknown;
  readonly response?: { readonly id?: unknown; readonly usage?: unknown };
}

/** Responses events: the terminal `response.completed`/`incomplete`/`failed` carries the whole response. */
function responsesMeter(): StreamMeter<ResponseEvent> {
  let id: string | undefined;
  let final: NormalizedUsage | undefined;
  const output = new OutputCounter();
  return {
    observe(event) {
      if (typeof event.response?.id === 'string') id = event.response.id;
      if (event.type === 'response.output_text.delta' || event.type === 'response.function_call_arguments.delta' || event.type === 'response.refusal.delta') output.add(event.delta);
      if (event.response?.usage !== undefined && event.response.usage !== null) final = openAIResponsesUsage(event.response.usage) ?? final;
    },
    finalUsage: () => final,
    partialUsage: () => (output.tokens === 0 ? undefined : { completionTokens: output.tokens }),
    responseId: () => (id === undefined ? undefined : `openai:${id}`),
  };
}
