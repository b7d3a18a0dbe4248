import { describe, expect, it } from 'vitest';
import { parseConfig } from './schema.js';
import { PRESETS, checkUpstreams, resolveUpstreams } from './upstreams.js';

const configOf = (input: Record<string, unknown>) => parseConfig(input);

describe('resolveUpstreams', () => {
  it('gives the openai, nanogpt and openrouter presets with bearer auth', () => {
    const ups = resolveUpstreams(configOf({}));
    expect(ups.get('openai')).toEqual({ name: 'openai', baseUrl: 'https://api.openai.com/v1', auth: 'bearer', headers: {} });
    expect(ups.get('nanogpt')).toEqual({ name: 'nanogpt', baseUrl: 'https://nano-gpt.com/api/v1', auth: 'bearer', headers: {} });
    expect(ups.get('openrouter')).toEqual({ name: 'openrouter', baseUrl: 'https://openrouter.ai/api/v1', auth: 'bearer', headers: {} });
  });

  it('gives exactly default plus the presets when nothing is configured', () => {
    expect([...resolveUpstreams(configOf({})).keys()].sort()).toEqual(['default', 'nanogpt', 'openai', 'openrouter']);
  });

  it("builds 'default' from the upstream setting", () => {
    expect(resolveUpstreams(configOf({})).get('default')).toEqual({
      name: 'default', baseUrl: 'https://api.openai.com/v1', auth: 'bearer', headers: {},
    });
    expect(resolveUpstreams(configOf({ upstream: 'http://127.0.0.1:11434/v1' })).get('default')?.baseUrl).toBe('http://127.0.0.1:11434/v1');
  });

  it('trims trailing slashes from the default and configured base URLs', () => {
    const ups = resolveUpstreams(configOf({
      upstream: 'https://gw.example/v1///',
      upstreams: { mine: { baseUrl: 'https://mine.example/api/v1/' } },
    }));
    expect(ups.get('default')?.baseUrl).toBe('https://gw.example/v1');
    expect(ups.get('mine')?.baseUrl).toBe('https://mine.example/api/v1');
  });

  it('lets a config entry override a preset of the same name', () => {
    const ups = resolveUpstreams(configOf({
      upstreams: { openai: { baseUrl: 'https://eu.api.openai.com/v1/', auth: 'api-key', headers: { 'OpenAI-Organization': 'org-1' } } },
    }));
    expect(ups.get('openai')).toEqual({
      name: 'openai', baseUrl: 'https://eu.api.openai.com/v1', auth: 'api-key', headers: { 'OpenAI-Organization': 'org-1' },
    });
    // The preset table itself is untouched.
    expect(PRESETS.openai?.baseUrl).toBe('https://api.openai.com/v1');
    expect(resolveUpstreams(configOf({})).get('openai')?.auth).toBe('bearer');
  });

  it("lets a config entry named 'default' override the upstream setting", () => {
    const ups = resolveUpstreams(configOf({ upstreams: { default: { baseUrl: 'https://other.example/v1', auth: 'x-api-key' } } }));
    expect(ups.get('default')).toMatchObject({ baseUrl: 'https://other.example/v1', auth: 'x-api-key' });
  });

  it('fills an entry from its preset and lets the entry override the preset fields', () => {
    const ups = resolveUpstreams(configOf({
      upstreams: {
        router: { preset: 'openrouter', headers: { 'X-Title': 'soakp' } },
        nano2: { preset: 'nanogpt', baseUrl: 'https://nano.internal/v1', auth: 'x-api-key' },
      },
    }));
    expect(ups.get('router')).toEqual({ name: 'router', baseUrl: 'https://openrouter.ai/api/v1', auth: 'bearer', headers: { 'X-Title': 'soakp' } });
    expect(ups.get('nano2')).toEqual({ name: 'nano2', baseUrl: 'https://nano.internal/v1', auth: 'x-api-key', headers: {} });
  });

  it('defaults the auth style of a configured upstream to bearer', () => {
    const ups = resolveUpstreams(configOf({ upstreams: { mine: { baseUrl: 'https://mine.example/v1' } } }));
    expect(ups.get('mine')?.auth).toBe('bearer');
  });
});

describe('checkUpstreams', () => {
  it('accepts the default, a preset, or a configured name as defaultUpstream', () => {
    expect(checkUpstreams(configOf({}))).toEqual([]);
    expect(checkUpstreams(configOf({ defaultUpstream: 'openrouter' }))).toEqual([]);
    expect(checkUpstreams(configOf({ defaultUpstream: 'mine', upstreams: { mine: { baseUrl: 'https://m.example/v1' } } }))).toEqual([]);
  });

  it('reports a defaultUpstream that names nothing', () => {
    const problems = checkUpstreams(configOf({ defaultUpstream: 'ghost' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('ghost');
  });
});
