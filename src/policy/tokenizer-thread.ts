import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { countText, loadTokenizer, tokenizerReady, tokenizerSettled } from './tokenizer.js';

/**
 * Counts that can wait — a finished stream's text, its prompt for the ledger — without loading
 * the tokenizer on the event loop: evaluating its ~70 MB of tables holds the loop for 100-250 ms,
 * and every answer in flight or about to start (the next request of a chat) would wait that
 * long. Until the event loop has its own tokenizer (loaded for counts that cannot wait), these
 * are counted by a worker thread that loads the tables there; once it has, they are counted here.
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { countTokens } = require(workerData.path);
const options = { disallowedSpecial: new Set() };
parentPort.postMessage({ loaded: true });
parentPort.on('message', ({ id, text }) => parentPort.postMessage({ id, count: countTokens(text, options) }));
`;

interface Waiting {
  resolve(count: number): void;
  reject(err: Error): void;
}

let worker: Worker | undefined;
let loaded = false;
/** The worker could not start or load the tables: counts are done here instead. */
let broken = false;
let nextId = 0;
const waiting = new Map<number, Waiting>();

/** Tokens in `text`: at once when the tokenizer is loaded here, else counted in the worker thread. */
export function countSoon(text: string): number | Promise<number> {
  if (text === '') return 0;
  if (tokenizerSettled()) return countText(text);
  if (broken) return countHere(text);
  return new Promise<number>((resolve, reject) => {
    const w = (worker ??= start());
    const id = nextId++;
    waiting.set(id, { resolve, reject });
    // Held open only while a count is awaited: an idle worker must not keep the process up.
    if (waiting.size === 1) w.ref();
    w.postMessage({ id, text });
  }).catch(() => countHere(text));
}

/** With the event loop's own tokenizer, loaded first (or an estimate, should it fail to load). */
function countHere(text: string): Promise<number> {
  return loadTokenizer().then(() => countText(text), () => countText(text));
}

/** Whether a tokenizer is loaded, here or in the worker: the ledger's estimated prompts are counted then. */
export function tokenizerLoadedSomewhere(): boolean {
  return tokenizerReady() || (loaded && worker !== undefined);
}

function start(): Worker {
  const path = createRequire(import.meta.url).resolve('gpt-tokenizer/encoding/o200k_base');
  const w = new Worker(SOURCE, { eval: true, workerData: { path } });
  w.unref();
  w.on('message', (m: { loaded?: true; id?: number; count?: number }) => {
    if (m.loaded) return void (loaded = true);
    const entry = waiting.get(m.id as number);
    waiting.delete(m.id as number);
    entry?.resolve(m.count as number);
    if (waiting.size > 0) return;
    w.unref();
    // The event loop has its own tables now: one copy of ~70 MB is enough.
    if (tokenizerReady()) stop(w);
  });
  const fail = (err: Error): void => {
    if (worker !== w) return; // stopped on purpose
    broken = true;
    stop(w);
    for (const entry of waiting.values()) entry.reject(err);
    waiting.clear();
  };
  w.on('error', fail);
  w.on('exit', () => fail(new Error('the tokenizer thread exited')));
  return w;
}

function stop(w: Worker): void {
  if (worker !== w) return;
  worker = undefined;
  loaded = false;
  void w.terminate();
}
