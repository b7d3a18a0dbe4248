import { type Dispatcher, request } from 'undici';
import { expect } from 'vitest';
import { waitFor } from './certs.js';
import { type FakeUpstream, Gate } from './fake-upstream.js';

/**
 * A streamed chat completion through `url` held open by the fake upstream after its first
 * event (for a certificate change in between); `finish()` lets the rest through and resolves
 * with the events the client received.
 */
export async function holdStream(url: string, dispatcher: Dispatcher, token: string, upstream: FakeUpstream): Promise<{ finish(): Promise<string[]> }> {
  const gate = new Gate();
  upstream.controls.sseGate = gate;
  const res = await request(`${url}/v1/chat/completions`, {
    dispatcher, method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream' }] }),
  });
  expect(res.statusCode).toBe(200);
  const chunks: string[] = [];
  const ended = (async () => {
    for await (const chunk of res.body) chunks.push(chunk.toString());
  })();
  await waitFor(() => chunks.join(''), /\n\n/); // the first event arrived
  return {
    async finish() {
      gate.open();
      await ended;
      upstream.controls.sseGate = undefined;
      return chunks.join('').split('\n\n').filter((e) => e !== '');
    },
  };
}
