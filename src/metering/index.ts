/**
 * Metering: reading an answer's usage on its way through (JSON and SSE meters, the budget
 * cut-off), counting text with the o200k tokenizer (in a worker thread while this process has
 * none loaded), and the usage ledger's batched writer. Nothing here ever makes a stream wait.
 */
export * from './ledger-order.js';
export * from './ledger.js';
export * from './meter.js';
export * from './ports.js';
export * from './meter-for.js';
export * from './tokenizer-thread.js';
export * from './tokenizer.js';
