import { countText as countWithTokenizer } from './tokenizer.js';

/** Token counts of one answer, as the upstream reported them. */
export interface Counts {
  readonly prompt: number;
  readonly completion: number;
  readonly total: number;
}

// Model output may contain text like `<|endoftext|>`; it is plain text here (the default would throw).

/** Tokens of delivered text, with the o200k_base encoding of current OpenAI models. */
export function countText(text: string): number {
  return countWithTokenizer(text);
}

/** The usage of an answer, an SSE event's payload or a `response.*` event's response, in any of OpenAI's shapes. */
export function usageOf(value: unknown): Counts | undefined {
  if (!isObject(value)) return undefined;
  return readCounts(value.usage) ?? (isObject(value.response) ? readCounts(value.response.usage) : undefined);
}

/** The model the answer names (chat, completions, embeddings at the top, Responses API events inside `response`). */
export function modelOf(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  const model = typeof value.model === 'string' ? value.model : isObject(value.response) ? value.response.model : undefined;
  return typeof model === 'string' && model.length > 0 && model.length <= 200 ? model : undefined;
}

/**
 * Completion tokens of the text one SSE event delivers. Each delta is counted on its own:
 * upstreams send about a token per delta, so the sum is close to counting the whole text,
 * while memory stays bounded and a running total exists for the budget ceiling.
 */
export function deltaTokens(event: unknown): number {
  return countText(deltaText(event));
}

/** The text an event delivers (content, reasoning, refusals, tool calls), joined; '' for none. */
export function deltaText(event: unknown): string {
  if (!isObject(event)) return '';
  const parts: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === 'string' && value !== '') parts.push(value);
  };
  const addFunction = (fn: unknown) => {
    if (isObject(fn)) {
      add(fn.name);
      add(fn.arguments);
    }
  };
  // Responses API: `response.output_text.delta`, `…function_call_arguments.delta`, reasoning deltas.
  // `response.audio.delta` is base64 audio, not text, and is billed by the upstream's report only.
  if (typeof event.type === 'string' && event.type.endsWith('.delta') && event.type !== 'response.audio.delta') add(event.delta);
  if (!Array.isArray(event.choices)) return parts.join('');
  for (const choice of event.choices) {
    if (!isObject(choice)) continue;
    add(choice.text); // legacy completions
    const delta = choice.delta;
    if (!isObject(delta)) continue;
    for (const field of ['content', 'reasoning_content', 'reasoning', 'refusal']) add(delta[field]);
    addFunction(delta.function_call);
    if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) if (isObject(call)) addFunction(call.function);
  }
  return parts.join('');
}

function readCounts(usage: unknown): Counts | undefined {
  if (!isObject(usage)) return undefined;
  const prompt = count(usage.prompt_tokens) ?? count(usage.input_tokens);
  const completion = count(usage.completion_tokens) ?? count(usage.output_tokens) ?? 0;
  const total = count(usage.total_tokens);
  // Embeddings report no completion; a usage of another kind (e.g. audio `seconds`) has no tokens at all.
  if (prompt === undefined && total === undefined) return undefined;
  const p = prompt ?? Math.max(0, (total ?? 0) - completion);
  return { prompt: p, completion, total: total ?? p + completion };
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
