/**
 * Policies: scopes, rate limits, budgets and prices, applied in admission (PolicyEngine) and
 * settled when a request ends; wired for a server by createPolicies.
 */
export * from './context.js';
export * from './create.js';
export * from './engine.js';
export * from './ports.js';
export * from './prompt-parts.js';
