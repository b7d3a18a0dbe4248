import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { exactPrompt, promptBound, promptFigure } from './prompt.js';
import { promptParts } from './prompt-parts.js';

/** OpenAI's own count of chat messages (its cookbook): 3 a message, every string value, 1 a name, 3 priming the reply. */
function cookbook(messages: Array<Record<string, unknown>>): number {
  let n = 3;
  for (const m of messages) {
    n += 3;
    for (const [key, value] of Object.entries(m)) if (typeof value === 'string') n += countTokens(value) + (key === 'name' ? 1 : 0);
  }
  return n;
}

describe('the prompt a request is billed for', () => {
  it('bounds and counts "hi" as OpenAI bills it (8 tokens), not as its text alone', async () => {
    const messages = [{ role: 'user', content: 'hi' }];
    const parts = promptParts({ messages });
    expect(cookbook(messages)).toBe(8);
    expect(await exactPrompt(parts)).toBe(8);
    expect(promptBound(parts)).toBe(12); // the bytes of "user" and "hi", and 6 tokens of the format
  });

  it('never bounds or counts a conversation below the cookbook\'s count', async () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', name: 'alice', content: 'Hello there, how are you?' },
      { role: 'assistant', content: 'Fine.' },
      { role: 'user', content: [{ type: 'text', text: 'And the weather\n\n' }, { type: 'text', text: '\n\nin Paris?' }] },
    ];
    const parts = promptParts({ messages });
    const expected = cookbook(messages.slice(0, 3)) + 3 + countTokens('user') + countTokens('And the weather\n\n') + countTokens('\n\nin Paris?');
    expect(await exactPrompt(parts)).toBeGreaterThanOrEqual(expected);
    expect(promptBound(parts)).toBeGreaterThanOrEqual(await exactPrompt(parts));
  });

  it('bills tool calls, their results and tool definitions (these by their JSON bytes)', async () => {
    const tools = [{ type: 'function', function: { name: 'weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const messages = [
      { role: 'user', content: 'Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21 °C' },
    ];
    const parts = promptParts({ messages, tools });
    expect(parts.texts).toEqual(expect.arrayContaining(['weather', '{"city":"Paris"}', 'call_1', 'sunny, 21 °C']));
    expect(parts.tools).toBe(JSON.stringify([tools]));
    const withoutTools = promptParts({ messages });
    expect(promptBound(parts) - promptBound(withoutTools)).toBe(Buffer.byteLength(JSON.stringify([tools])) + 12);
    expect(await exactPrompt(parts)).toBeGreaterThan(await exactPrompt(withoutTools) + Buffer.byteLength(JSON.stringify([tools])));
  });

  it('reads responses input: instructions, a string input, and items such as function calls and their outputs', () => {
    const plain = promptParts({ instructions: 'Be brief.', input: 'hi' });
    expect(plain.texts).toEqual(['Be brief.', 'hi']);
    expect(plain.framing).toBe(3 + 3 + 1 + 3);
    const items = promptParts({
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Paris?' }] },
        { type: 'function_call', call_id: 'c1', name: 'weather', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'sunny' },
      ],
      text: { format: { type: 'json_schema', name: 'w', schema: { type: 'object' } } },
    });
    expect(items.texts).toEqual(expect.arrayContaining(['user', 'Paris?', 'weather', '{}', 'sunny']));
    expect(items.tools).toContain('json_schema');
  });

  it('stands in for an image by its bytes ÷ 3 and counts token ids one each', () => {
    const url = `data:image/png;base64,${'A'.repeat(3000)}`;
    const image = promptParts({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] });
    expect(image.fixed).toBe(Math.ceil(Buffer.byteLength(JSON.stringify({ type: 'image_url', image_url: { url } })) / 3));
    expect(promptParts({ prompt: [[1, 2, 3], [4]] }).fixed).toBe(4);
  });

  it('records the format\'s tokens in the ledger\'s figure too', () => {
    const parts = promptParts({ messages: [{ role: 'user', content: 'hello world' }] });
    expect(promptFigure(parts, 0)).toBeGreaterThanOrEqual(6 + 2);
    expect(promptFigure(undefined, 300)).toBe(100);
  });
});
