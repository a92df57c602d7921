// The OpenAI-compatible chat completion of the HTTP sample: a deterministic "model" that answers
// with the last user message echoed back, one word per token, so streaming tests can count events
// and the bench can time them (every chunk carries `created_ms`, the sender's wall clock in ms).

import { randomUUID } from 'node:crypto';

/** Model name reported when the request names none. */
export const SAMPLE_CHAT_MODEL = 'switchyard-sample-echo';
/** Tokens generated when the request has no `max_tokens`. */
export const DEFAULT_CHAT_MAX_TOKENS = 16;
/** Largest `max_tokens` honoured (more is clamped), so a request cannot stream forever. */
export const MAX_CHAT_MAX_TOKENS = 100_000;

/** The part of an OpenAI chat completion request the sample reads. */
export interface ChatCompletionRequest {
  model?: string;
  messages?: { role?: string; content?: unknown }[];
  stream?: boolean;
  max_tokens?: number;
}

/** A validated request: what the stream or the JSON answer is built from. */
export interface ChatPlan {
  id: string;
  model: string;
  /** Unix seconds, as OpenAI's `created`. */
  created: number;
  tokens: string[];
  promptTokens: number;
}

/** Wall-clock time now in milliseconds with sub-ms precision (performance.timeOrigin + now()). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  // OpenAI content parts: [{type:'text', text:'...'}, ...]
  if (Array.isArray(content))
    return content
      .map((p) => (p !== null && typeof p === 'object' && typeof p.text === 'string' ? p.text : ''))
      .join(' ');
  return '';
}

/**
 * Validates a request body and plans the answer: the words of the last user message (or "hello"),
 * repeated until `max_tokens` words, each token but the first with a leading space.
 * Throws TypeError on a body that is not a chat request.
 */
export function planChatCompletion(body: unknown): ChatPlan {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new TypeError('body must be a JSON object');
  const request = body as ChatCompletionRequest;
  if (request.messages !== undefined && !Array.isArray(request.messages))
    throw new TypeError('messages must be an array');
  const maxTokens = request.max_tokens ?? DEFAULT_CHAT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new TypeError('max_tokens must be a positive integer');
  const messages = request.messages ?? [];
  const prompt = messages.map((m) => contentText(m?.content)).join(' ');
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user');
  const source = words(contentText(lastUser?.content));
  const base = source.length > 0 ? source : ['hello'];
  const count = Math.min(maxTokens, MAX_CHAT_MAX_TOKENS);
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push(`${i === 0 ? '' : ' '}${base[i % base.length]}`);
  return {
    id: `chatcmpl-${randomUUID()}`,
    model: typeof request.model === 'string' && request.model !== '' ? request.model : SAMPLE_CHAT_MODEL,
    created: Math.floor(Date.now() / 1000),
    tokens,
    promptTokens: words(prompt).length,
  };
}

/** The non-streaming answer (`object: chat.completion`). */
export function chatCompletionJson(plan: ChatPlan): Record<string, unknown> {
  return {
    id: plan.id,
    object: 'chat.completion',
    created: plan.created,
    model: plan.model,
    choices: [{ index: 0, message: { role: 'assistant', content: plan.tokens.join('') }, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: plan.promptTokens,
      completion_tokens: plan.tokens.length,
      total_tokens: plan.promptTokens + plan.tokens.length,
    },
    created_ms: nowMs(),
  };
}

/**
 * Streaming chunk `index` (`object: chat.completion.chunk`): 0..tokens-1 carry one token each (the
 * first also the assistant role); index === tokens.length is the final chunk with
 * `finish_reason: "stop"` and usage. `created_ms` is stamped when the chunk is built.
 */
export function chatCompletionChunk(plan: ChatPlan, index: number): Record<string, unknown> {
  const last = index >= plan.tokens.length;
  const delta: Record<string, string> = {};
  if (index === 0) delta.role = 'assistant';
  if (!last) delta.content = plan.tokens[index] as string;
  const chunk: Record<string, unknown> = {
    id: plan.id,
    object: 'chat.completion.chunk',
    created: plan.created,
    model: plan.model,
    choices: [{ index: 0, delta, finish_reason: last ? 'stop' : null }],
  };
  if (last)
    chunk.usage = {
      prompt_tokens: plan.promptTokens,
      completion_tokens: plan.tokens.length,
      total_tokens: plan.promptTokens + plan.tokens.length,
    };
  chunk.created_ms = nowMs();
  return chunk;
}
