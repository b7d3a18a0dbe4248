import { SoakpError } from '../shared/index.js';

/**
 * What a request's prompt is billed for, read from its JSON body. OpenAI bills more than the
 * text: each message's role and name, a few tokens around each message, the reply's priming,
 * tool definitions and response schemas. Each part is kept as it must be bounded.
 */
export interface PromptParts {
  /** Billed text piece by piece, as the upstream tokenizes it: contents, roles, names, instructions, tool calls and results. */
  readonly texts: string[];
  /** Tokens of the chat format around the texts; applies to chat and responses only (see `framed`). */
  framing: number;
  /** Tokens taken as they are: token ids given as numbers, and media parts (images, audio, files) at their JSON bytes ÷ 3. */
  fixed: number;
  /** The JSON of tool and function definitions and response schemas: bounded by its bytes, never counted. */
  tools: string;
}

/**
 * OpenAI's accounting of chat messages (its cookbook "How to count tokens with tiktoken"):
 * 3 tokens a message, 1 more for a name, 3 priming the reply. A tool call or its result
 * carries markers of its own (recipient, type); 8 bounds them. Tool definitions are rendered
 * inside a namespace whose closing costs 12 (the cookbook's count for functions).
 */
const PER_MESSAGE = 3;
const PER_NAME = 1;
const REPLY = 3;
const PER_CALL = 8;
const TOOLS = 12;
/** The role of a plain string `input`, not in the body: one token. */
const IMPLIED_ROLE = 1;

/** Deeper than any prompt OpenAI accepts; a body nested further is refused, not walked. */
export const MAX_DEPTH = 64;

export function tooDeep(): SoakpError {
  return new SoakpError('invalid_request', `The request body nests arrays or objects deeper than ${MAX_DEPTH} levels.`);
}

/** Strings billed as text wherever they appear in a message or item. */
const TEXT_KEYS = ['role', 'name', 'text', 'refusal', 'arguments', 'tool_call_id', 'call_id'] as const;
/** Where more of the prompt is, as a string or nested. */
const NESTED_KEYS = ['content', 'tool_calls', 'function_call', 'function', 'output', 'summary'] as const;

/** The prompt of a chat, responses, completions or embeddings body (messages / input / prompt, and instructions). */
export function promptParts(v: Record<string, unknown>): PromptParts {
  const p: PromptParts = { texts: [], framing: 0, fixed: 0, tools: '' };
  if (typeof v.instructions === 'string') {
    p.texts.push(v.instructions);
    p.framing += PER_MESSAGE; // a system message of its own
  }
  const items = v.messages ?? v.input ?? v.prompt;
  if (typeof items === 'string') {
    p.texts.push(items);
    p.framing += PER_MESSAGE + IMPLIED_ROLE + REPLY; // on responses, one user message
  } else {
    const list = Array.isArray(items) ? items : [items];
    for (const item of list) if (item && typeof item === 'object' && !Array.isArray(item)) p.framing += itemFraming(item as Record<string, unknown>);
    p.framing += REPLY;
    walk(items, p);
  }
  const tools = [v.tools, v.functions, v.response_format, (v.text as Record<string, unknown> | null | undefined)?.format].filter((x) => x !== undefined && x !== null);
  if (tools.length > 0) {
    p.tools = stringify(tools);
    p.framing += TOOLS;
  }
  return p;
}

function itemFraming(o: Record<string, unknown>): number {
  let n = PER_MESSAGE + (typeof o.name === 'string' ? PER_NAME : 0);
  if (typeof o.arguments === 'string' || o.output !== undefined) n += PER_CALL; // a responses function call or its result
  if (typeof o.tool_call_id === 'string' || o.function_call) n += PER_CALL;
  if (Array.isArray(o.tool_calls)) n += PER_CALL * o.tool_calls.length;
  return n;
}

/** Gathers texts in order with a stack of its own: a deep body cannot overflow the call stack. */
function walk(root: unknown, p: PromptParts): void {
  const stack: Array<[unknown, number]> = [[root, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [x, depth] = item;
    if (depth > MAX_DEPTH) throw tooDeep();
    if (typeof x === 'string') p.texts.push(x);
    else if (typeof x === 'number') p.fixed += 1; // a token id
    else if (Array.isArray(x)) for (let i = x.length - 1; i >= 0; i--) stack.push([x[i], depth + 1]);
    else if (x && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      let found = false;
      for (const k of TEXT_KEYS) {
        const text = o[k];
        if (typeof text !== 'string') continue;
        p.texts.push(text);
        found = true;
      }
      for (let i = NESTED_KEYS.length - 1; i >= 0; i--) {
        const nested = o[NESTED_KEYS[i] as string];
        if (nested === undefined || nested === null) continue;
        stack.push([nested, depth + 1]);
        found = true;
      }
      // An image, audio or file part: billed by its own rules; its bytes ÷ 3 stand in, as for a body without text.
      if (!found && depth > 1) p.fixed += Math.ceil(Buffer.byteLength(stringify(o)) / 3);
    }
  }
}

function stringify(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep(); // JSON.stringify recurses; its stack is the limit
    throw err;
  }
}

/** Whether a prompt has anything to bound it by; without (token arrays aside, an empty body), the body's bytes stand in. */
export function readable(p: PromptParts): boolean {
  return p.fixed > 0 || p.tools !== '' || p.texts.some((t) => t !== '');
}
