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
  readonly timer: NodeJS.Timeout;
}

/** A count not answered by then is made here instead: ledger rows behind it must not wait for good. */
const ANSWER_WITHIN_MS = 10_000;

let worker: Worker | undefined;
let loaded = false;
/** The worker could not start or load the tables: counts are done here instead. */
let broken = false;
let nextId = 0;
const waiting = new Map<number, Waiting>();

/** Tokens in `text`: at once when the tokenizer is loaded here, else counted in the worker thread. */
export function countSoon(text: string): number | Promise<number> {
  if (text === '') return 0;
  if (tokenizerSettled()) {
    if (worker && waiting.size === 0) stop(worker); // its copy of the tables is no longer needed
    return countText(text);
  }
  if (broken) return countHere(text);
  return new Promise<number>((resolve, reject) => {
    const w = (worker ??= start());
    const id = nextId++;
    const timer = setTimeout(() => answered(w, id)?.reject(new Error('the tokenizer thread did not answer')), ANSWER_WITHIN_MS);
    waiting.set(id, { resolve, reject, timer });
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

const load = createRequire(import.meta.url);

function start(): Worker {
  const path = load.resolve('gpt-tokenizer/encoding/o200k_base');
  const w = new Worker(SOURCE, { eval: true, workerData: { path } });
  w.unref();
  w.on('message', (m: { loaded?: true; id?: number; count?: number }) => {
    if (m.loaded) return void (loaded = true);
    answered(w, m.id as number)?.resolve(m.count as number);
  });
  const fail = (err: Error): void => {
    if (worker !== w) return; // stopped on purpose
    broken = true;
    stop(w);
    for (const [id, entry] of [...waiting]) {
      waiting.delete(id);
      clearTimeout(entry.timer);
      entry.reject(err);
    }
  };
  w.on('error', fail);
  w.on('exit', () => fail(new Error('the tokenizer thread exited')));
  return w;
}

/** Takes a count's entry off the waiting list; once none waits, the worker no longer holds the process open. */
function answered(w: Worker, id: number): Waiting | undefined {
  const entry = waiting.get(id);
  waiting.delete(id);
  if (entry) clearTimeout(entry.timer);
  if (waiting.size === 0) {
    w.unref();
    // The event loop has its own tables now: one copy of ~70 MB is enough.
    if (tokenizerReady()) stop(w);
  }
  return entry;
}

function stop(w: Worker): void {
  if (worker !== w) return;
  worker = undefined;
  loaded = false;
  void w.terminate();
}
