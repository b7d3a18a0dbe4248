import { describe, expect, it } from 'vitest';
import { jsonFields, streamFields, withStreamUsage } from './inspect.js';

describe('asking for a stream’s usage', () => {
  it('knows a stream that does not ask for its usage, from the whole fields or only the stream’s', () => {
    const body = Buffer.from(' {"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}');
    expect(streamFields(body)).toEqual({ model: 'gpt-4o-mini', streamWithoutUsage: true });
    expect(jsonFields(body)).toMatchObject({ model: 'gpt-4o-mini', streamWithoutUsage: true, prompt: expect.any(Object) });
    expect(streamFields(Buffer.from('{"stream":true,"stream_options":{"include_usage":true}}'))).toEqual({ streamUsage: true });
    for (const other of ['{"model":"m"}', '{"stream":false}', '{"stream":true,"stream_options":{}}', '{"stream":true', '[{"stream":true}]', '{"m":{"stream":true}}']) {
      expect(streamFields(Buffer.from(other)).streamWithoutUsage, other).toBeUndefined();
    }
  });

  it('adds the option in front, keeping every byte of the client’s', () => {
    const body = Buffer.from(' \n{ "messages": [{"role":"user","content":"{\\"x\\":1}"}], "stream" : true }');
    const added = withStreamUsage(body);
    expect(added.toString()).toBe(' \n{"stream_options":{"include_usage":true}, "messages": [{"role":"user","content":"{\\"x\\":1}"}], "stream" : true }');
    expect(JSON.parse(added.toString())).toEqual({ ...JSON.parse(body.toString()), stream_options: { include_usage: true } });
  });
});
