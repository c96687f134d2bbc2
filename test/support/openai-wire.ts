import type { SseEvent } from './fake-llm-server.js';

/** OpenAI chat `usage` in its wire shape (what the fake provider answers). */
export const openAIUsage = (prompt: number, completion: number, cached = 0) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  prompt_tokens_details: { cached_tokens: cached },
  completion_tokens_details: { reasoning_tokens: 0 },
});

/** A non-streamed OpenAI chat completion. */
export const chatCompletion = (id: string, prompt: number, output: number, cached = 0) => ({
  id,
  object: 'chat.completion',
  created: 1,
  model: 'gpt-test',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there' }, finish_reason: 'stop' }],
  usage: openAIUsage(prompt, output, cached),
});

/** A streamed OpenAI chat completion: a role chunk, one chunk per text, stop, the usage chunk, `[DONE]`. */
export function chatChunks(id: string, texts: string[], prompt: number, output: number): SseEvent[] {
  const chunk = (choices: unknown[], u: unknown = null) => ({ data: { id, object: 'chat.completion.chunk', created: 1, model: 'gpt-test', choices, usage: u } });
  return [
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    ...texts.map((text) => chunk([{ index: 0, delta: { content: text }, finish_reason: null }])),
    chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    chunk([], openAIUsage(prompt, output)),
    { data: '[DONE]' },
  ];
}
