import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SoakpError } from '../shared/errors.js';
import { type Overrides, loadConfig } from './load.js';
import type { TlsOverrides } from './tls-overrides.js';
import { resolveUpstreams } from './upstreams.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'soakp-config-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The SoakpError that `fn` throws; fails the test when it throws nothing or something else. */
function errorOf(fn: () => unknown): SoakpError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SoakpError);
    return err as SoakpError;
  }
  throw new Error('expected a SoakpError, but nothing was thrown');
}

/** The problems listed in an invalid_config message, one per `  - ` line. */
function problemsOf(err: SoakpError): string[] {
  expect(err.code).toBe('invalid_config');
  return err.message
    .split('\n')
    .filter((line) => line.startsWith('  - '))
    .map((line) => line.slice(4));
}

describe('loadConfig defaults', () => {
  it('gives the documented defaults when nothing is set', () => {
    const { config, configFile } = loadConfig({}, {});
    expect(configFile).toBeUndefined();
    expect(config.dataDir).toBe('./data');
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(3000);
    expect(config.upstream).toBe('https://api.openai.com/v1');
    expect(config.logLevel).toBe('info');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.defaultUpstream).toBe('default');
    expect(config.upstreams).toEqual({});
    expect(config.encryptDatabase).toBe(false);
    expect(config.openwebui).toEqual({ maxTokenAge: 600_000, clockTolerance: 30_000 });
  });

  it('ignores unrelated and empty environment variables', () => {
    const { config, configFile } = loadConfig(
      {},
      { PORT: '9999', HOST: '0.0.0.0', SOAKP_HOST: '', SOAKP_PORT: '   ', SOAKP_CONFIG: '' },
    );
    expect(configFile).toBeUndefined();
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(3000);
  });

  it('treats an empty config file as giving nothing', () => {
    const path = file('empty.yaml', '');
    const { config, configFile } = loadConfig({ config: path }, {});
    expect(configFile).toBe(path);
    expect(config.port).toBe(3000);
    expect(config.dataDir).toBe('./data');
  });
});

interface SettingCase {
  key: keyof Omit<Overrides, 'config' | 'corsOrigins' | keyof TlsOverrides>;
  env: string;
  fileText: string;
  fileValue: unknown;
  envText: string;
  envValue: unknown;
  flag: string | number | boolean;
  flagValue: unknown;
  defaultValue: unknown;
}

// One row per setting of INTERFACE.md's table that loadConfig owns (plus encryptDatabase).
const SETTINGS: SettingCase[] = [
  {
    key: 'dataDir', env: 'SOAKP_DATA_DIR',
    fileText: 'dataDir: /srv/from-file', fileValue: '/srv/from-file',
    envText: '/srv/from-env', envValue: '/srv/from-env',
    flag: '/srv/from-flag', flagValue: '/srv/from-flag',
    defaultValue: './data',
  },
  {
    key: 'databaseUrl', env: 'SOAKP_DATABASE_URL',
    fileText: 'databaseUrl: postgres://file@db/soakp', fileValue: 'postgres://file@db/soakp',
    envText: 'postgres://env@db/soakp', envValue: 'postgres://env@db/soakp',
    flag: 'postgres://flag@db/soakp', flagValue: 'postgres://flag@db/soakp',
    defaultValue: undefined,
  },
  {
    key: 'host', env: 'SOAKP_HOST',
    fileText: 'host: 10.0.0.1', fileValue: '10.0.0.1',
    envText: '10.0.0.2', envValue: '10.0.0.2',
    flag: '10.0.0.3', flagValue: '10.0.0.3',
    defaultValue: '127.0.0.1',
  },
  {
    key: 'port', env: 'SOAKP_PORT',
    fileText: 'port: 4001', fileValue: 4001,
    envText: '4002', envValue: 4002,
    flag: '4003', flagValue: 4003,
    defaultValue: 3000,
  },
  {
    key: 'upstream', env: 'SOAKP_UPSTREAM',
    fileText: 'upstream: https://file.example/v1', fileValue: 'https://file.example/v1',
    envText: 'https://env.example/v1', envValue: 'https://env.example/v1',
    flag: 'http://flag.example:8080/v1', flagValue: 'http://flag.example:8080/v1',
    defaultValue: 'https://api.openai.com/v1',
  },
  {
    key: 'logLevel', env: 'SOAKP_LOG_LEVEL',
    fileText: 'logLevel: warn', fileValue: 'warn',
    envText: 'debug', envValue: 'debug',
    flag: 'trace', flagValue: 'trace',
    defaultValue: 'info',
  },
  {
    key: 'shutdownGrace', env: 'SOAKP_SHUTDOWN_GRACE',
    fileText: 'shutdownGrace: 20s', fileValue: 20_000,
    envText: '30s', envValue: 30_000,
    flag: '5s', flagValue: 5_000,
    defaultValue: 10_000,
  },
  {
    key: 'encryptDatabase', env: 'SOAKP_ENCRYPT_DATABASE',
    fileText: 'encryptDatabase: true', fileValue: true,
    envText: 'false', envValue: false,
    flag: true, flagValue: true,
    defaultValue: false,
  },
];

describe('loadConfig precedence: flags > environment > file > defaults', () => {
  for (const s of SETTINGS) {
    describe(s.key, () => {
      it('takes the flag over the environment and the file', () => {
        const path = file('c.yaml', s.fileText);
        const { config } = loadConfig({ config: path, [s.key]: s.flag }, { [s.env]: s.envText });
        expect(config[s.key]).toEqual(s.flagValue);
      });

      it('takes the environment over the file', () => {
        const path = file('c.yaml', s.fileText);
        const { config } = loadConfig({ config: path }, { [s.env]: s.envText });
        expect(config[s.key]).toEqual(s.envValue);
      });

      it('takes the file over the default', () => {
        const path = file('c.yaml', s.fileText);
        const { config } = loadConfig({ config: path }, {});
        expect(config[s.key]).toEqual(s.fileValue);
      });

      it('falls back to the default', () => {
        const path = file('c.yaml', 'host: 127.0.0.1\n');
        const { config } = loadConfig({ config: path }, {});
        expect(config[s.key]).toEqual(s.defaultValue);
      });

      it('takes the flag over the environment without a file', () => {
        const { config } = loadConfig({ [s.key]: s.flag }, { [s.env]: s.envText });
        expect(config[s.key]).toEqual(s.flagValue);
      });
    });
  }

  it('accepts the port flag as a number', () => {
    expect(loadConfig({ port: 0 }, { SOAKP_PORT: '4002' }).config.port).toBe(0);
  });

  it('keeps file settings that neither environment nor flags override', () => {
    const path = file('c.yaml', 'host: 10.0.0.1\nport: 4001\nlogLevel: warn\n');
    const { config } = loadConfig({ config: path, port: '5000' }, { SOAKP_LOG_LEVEL: 'error' });
    expect(config).toMatchObject({ host: '10.0.0.1', port: 5000, logLevel: 'error' });
  });
});

describe('loadConfig config file selection', () => {
  it('reads the file named by SOAKP_CONFIG', () => {
    const path = file('env.yaml', 'port: 4100\n');
    const loaded = loadConfig({}, { SOAKP_CONFIG: path });
    expect(loaded.configFile).toBe(path);
    expect(loaded.config.port).toBe(4100);
  });

  it('prefers --config over SOAKP_CONFIG', () => {
    const fromEnv = file('env.yaml', 'port: 4100\n');
    const fromFlag = file('flag.yaml', 'port: 4200\n');
    const loaded = loadConfig({ config: fromFlag }, { SOAKP_CONFIG: fromEnv });
    expect(loaded.configFile).toBe(fromFlag);
    expect(loaded.config.port).toBe(4200);
  });

  it('reads YAML', () => {
    const path = file('c.yaml', [
      '# a comment',
      'dataDir: /var/lib/soakp',
      'host: 0.0.0.0',
      'port: 8080',
      'logLevel: debug',
      'upstreams:',
      '  local:',
      '    baseUrl: http://localhost:11434/v1',
      '',
    ].join('\n'));
    const { config } = loadConfig({ config: path }, {});
    expect(config).toMatchObject({ dataDir: '/var/lib/soakp', host: '0.0.0.0', port: 8080, logLevel: 'debug' });
    expect(config.upstreams.local?.baseUrl).toBe('http://localhost:11434/v1');
  });

  it('reads JSON', () => {
    const path = file('c.json', JSON.stringify({
      dataDir: '/var/lib/soakp',
      port: 8081,
      logLevel: 'warn',
      upstreams: { azure: { baseUrl: 'https://x.openai.azure.com/openai/v1', auth: 'api-key' } },
      defaultUpstream: 'azure',
    }, null, 2));
    const { config } = loadConfig({ config: path }, {});
    expect(config).toMatchObject({ dataDir: '/var/lib/soakp', port: 8081, logLevel: 'warn', defaultUpstream: 'azure' });
    expect(config.upstreams.azure).toEqual({ baseUrl: 'https://x.openai.azure.com/openai/v1', auth: 'api-key' });
  });

  it('refuses a missing file, naming it', () => {
    const path = join(dir, 'does-not-exist.yaml');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(path);
  });

  it('refuses a missing file named by SOAKP_CONFIG', () => {
    const path = join(dir, 'nope.json');
    const problems = problemsOf(errorOf(() => loadConfig({}, { SOAKP_CONFIG: path })));
    expect(problems[0]).toContain(path);
  });

  it('refuses a file that is not YAML', () => {
    const path = file('broken.yaml', 'port: 3000\nhost: [unclosed\n  : : :\n');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(path);
    expect(problems[0]).toMatch(/not valid YAML/);
  });

  it('refuses truncated JSON', () => {
    const path = file('broken.json', '{ "port": 3000, ');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(path);
  });

  it('refuses a YAML list instead of a mapping', () => {
    const path = file('list.yaml', '- port: 3000\n- host: 0.0.0.0\n');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(path);
    expect(problems[0]).toMatch(/mapping/);
  });

  it('refuses a file holding a bare scalar', () => {
    const path = file('scalar.yaml', 'just some text\n');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems[0]).toMatch(/mapping/);
  });

  it('still reports environment problems alongside an unreadable file', () => {
    const path = join(dir, 'missing.yaml');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, { SOAKP_LOG_LEVEL: 'loud' })));
    expect(problems).toHaveLength(2);
    expect(problems.some((p) => p.includes(path))).toBe(true);
    expect(problems.some((p) => p.startsWith('logLevel') && p.includes('SOAKP_LOG_LEVEL'))).toBe(true);
  });
});

describe('loadConfig unknown keys', () => {
  it('refuses an unknown top-level key, naming it and its file', () => {
    const path = file('c.yaml', 'port: 3000\nprot: 3001\n');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('prot');
    expect(problems[0]).toContain(path);
  });

  it('refuses a __proto__ key rather than letting it through', () => {
    const path = file('c.json', '{"__proto__": {"port": 1}}');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems.join('\n')).toContain('__proto__');
  });

  it('refuses an unknown key inside an upstream', () => {
    const path = file('c.yaml', 'upstreams:\n  mine:\n    baseUrl: https://a.example/v1\n    base_url: https://b.example/v1\n');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('upstreams.mine');
    expect(problems[0]).toContain('base_url');
    expect(problems[0]).toContain(path);
  });

  it('names every unknown key of a mapping', () => {
    const path = file('c.yaml', 'colour: blue\nprot: 3001\n');
    expect(problemsOf(errorOf(() => loadConfig({ config: path }, {})))).toEqual([`(top level): Unrecognized keys: "colour", "prot" (in ${path})`]);
  });

  it('refuses __proto__, constructor and prototype as names rather than dropping them', () => {
    const path = file('c.json', '{"upstreams": {"constructor": {"preset": "openai"}}, "prices": {"__proto__": {"input": 1}}}');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^upstreams\.constructor: .*reserved/);
    expect(problems[1]).toMatch(/^prices\.__proto__: .*reserved/);
  });
});

describe('loadConfig reports every problem at once', () => {
  it('lists a bad port, an unknown key and a bad log level from one file in one error', () => {
    const path = file('bad.yaml', 'port: 99999\nbogus: 1\nlogLevel: loud\n');
    const err = errorOf(() => loadConfig({ config: path }, {}));
    expect(err.code).toBe('invalid_config');
    const problems = problemsOf(err);
    expect(problems).toHaveLength(3);
    const port = problems.find((p) => p.startsWith('port'));
    const level = problems.find((p) => p.startsWith('logLevel'));
    const unknown = problems.find((p) => p.includes('bogus'));
    for (const p of [port, level, unknown]) {
      expect(p).toBeDefined();
      expect(p).toContain(`in ${path}`);
    }
  });

  it('names the source of each problem: file, environment, flag', () => {
    const path = file('bad.yaml', 'host: ""\n');
    const problems = problemsOf(errorOf(() => loadConfig(
      { config: path, upstream: 'ftp://flag.example/v1' },
      { SOAKP_PORT: 'eighty', SOAKP_LOG_LEVEL: 'verbose' },
    )));
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('host'))).toContain(`in ${path}`);
    expect(problems.find((p) => p.startsWith('port'))).toContain('from SOAKP_PORT');
    expect(problems.find((p) => p.startsWith('logLevel'))).toContain('from SOAKP_LOG_LEVEL');
    expect(problems.find((p) => p.startsWith('upstream'))).toContain('from --upstream');
  });

  it('names the flag when a flag overrides a good file value with a bad one', () => {
    const path = file('c.yaml', 'port: 4000\n');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path, port: '70000' }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('from --port');
    expect(problems[0]).not.toContain(path);
  });

  it.each([['-1'], ['65536'], ['3.5'], ['abc'], ['0x50']])('refuses port %s from the environment', (port) => {
    const problems = problemsOf(errorOf(() => loadConfig({}, { SOAKP_PORT: port })));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^port: .*from SOAKP_PORT/);
  });

  it('refuses a port given as a string in the file', () => {
    const path = file('c.yaml', 'port: "3000"\n');
    expect(problemsOf(errorOf(() => loadConfig({ config: path }, {})))[0]).toMatch(/^port/);
  });
});

describe('loadConfig named upstreams', () => {
  it('accepts presets, base URLs, every auth style and extra headers', () => {
    const path = file('c.yaml', [
      'upstreams:',
      '  router:',
      '    preset: openrouter',
      '    headers:',
      '      HTTP-Referer: https://intranet.example',
      '      X-Title: soakp',
      '  azure:',
      '    baseUrl: https://res.openai.azure.com/openai/v1/',
      '    auth: api-key',
      '  anthro:',
      '    baseUrl: https://api.example.com/v1',
      '    auth: x-api-key',
      '  plain:',
      '    baseUrl: http://10.1.2.3:8000/v1',
      '    auth: bearer',
      'defaultUpstream: azure',
      '',
    ].join('\n'));
    const { config } = loadConfig({ config: path }, {});
    expect(config.defaultUpstream).toBe('azure');
    const ups = resolveUpstreams(config);
    expect(ups.get('router')).toEqual({
      name: 'router',
      baseUrl: 'https://openrouter.ai/api/v1',
      auth: 'bearer',
      headers: { 'HTTP-Referer': 'https://intranet.example', 'X-Title': 'soakp' },
    });
    expect(ups.get('azure')).toEqual({ name: 'azure', baseUrl: 'https://res.openai.azure.com/openai/v1', auth: 'api-key', headers: {} });
    expect(ups.get('anthro')?.auth).toBe('x-api-key');
    expect(ups.get('plain')).toMatchObject({ baseUrl: 'http://10.1.2.3:8000/v1', auth: 'bearer' });
  });

  it.each([
    ['a query string', 'https://a.example/v1?api-version=1'],
    ['an empty query string', 'https://a.example/v1?'],
    ['a fragment', 'https://a.example/v1#x'],
    ['ftp', 'ftp://a.example/v1'],
    ['file', 'file:///etc/passwd'],
    ['javascript', 'javascript:alert(1)'],
    ['no scheme', 'a.example/v1'],
  ])('refuses an upstream baseUrl with %s', (_what, url) => {
    const path = file('c.yaml', `upstreams:\n  mine:\n    baseUrl: ${JSON.stringify(url)}\n`);
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems.length).toBeGreaterThanOrEqual(1);
    for (const p of problems) {
      expect(p).toMatch(/^upstreams\.mine\.baseUrl/);
      expect(p).toContain(path);
    }
  });

  it.each([
    ['a query string', 'https://a.example/v1?x=1'],
    ['a non-http scheme', 'ws://a.example/v1'],
  ])('refuses a default upstream URL with %s from the file, environment and flag', (_what, url) => {
    const path = file('c.yaml', `upstream: ${JSON.stringify(url)}\n`);
    expect(problemsOf(errorOf(() => loadConfig({ config: path }, {})))[0]).toMatch(/^upstream: .*in /);
    expect(problemsOf(errorOf(() => loadConfig({}, { SOAKP_UPSTREAM: url })))[0]).toMatch(/^upstream: .*from SOAKP_UPSTREAM/);
    expect(problemsOf(errorOf(() => loadConfig({ upstream: url }, {})))[0]).toMatch(/^upstream: .*from --upstream/);
  });

  it('refuses an upstream with neither baseUrl nor preset', () => {
    const path = file('c.yaml', 'upstreams:\n  mine:\n    auth: bearer\n');
    expect(problemsOf(errorOf(() => loadConfig({ config: path }, {})))[0]).toMatch(/^upstreams\.mine/);
  });

  it('refuses an unknown preset, auth style, header name and upstream name', () => {
    const path = file('c.yaml', [
      'upstreams:',
      '  a:',
      '    preset: anthropic',
      '  b:',
      '    baseUrl: https://b.example/v1',
      '    auth: basic',
      '  c:',
      '    baseUrl: https://c.example/v1',
      '    headers:',
      '      "bad header": x',
      '  Upper:',
      '    baseUrl: https://d.example/v1',
      '',
    ].join('\n'));
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(4);
    expect(problems.some((p) => p.startsWith('upstreams.a.preset'))).toBe(true);
    expect(problems.some((p) => p.startsWith('upstreams.b.auth'))).toBe(true);
    expect(problems.some((p) => p.startsWith('upstreams.c.headers'))).toBe(true);
    expect(problems.some((p) => p.startsWith('upstreams.Upper'))).toBe(true);
  });

  it('accepts a defaultUpstream naming a preset or a configured upstream', () => {
    expect(loadConfig({ config: file('a.yaml', 'defaultUpstream: nanogpt\n') }, {}).config.defaultUpstream).toBe('nanogpt');
    const path = file('b.yaml', 'defaultUpstream: mine\nupstreams:\n  mine:\n    baseUrl: https://m.example/v1\n');
    expect(loadConfig({ config: path }, {}).config.defaultUpstream).toBe('mine');
  });

  it('refuses a defaultUpstream that names no known upstream', () => {
    const path = file('c.yaml', 'defaultUpstream: elsewhere\nupstreams:\n  mine:\n    baseUrl: https://m.example/v1\n');
    const problems = problemsOf(errorOf(() => loadConfig({ config: path }, {})));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^defaultUpstream/);
    expect(problems[0]).toContain('elsewhere');
    expect(problems[0]).toContain('mine');
  });
});

describe('tls settings', () => {
  it('takes flags over the environment over the file, key by key', () => {
    const path = file('tls.yaml', 'tls:\n  cert: /file/cert.pem\n  key: /file/key.pem\n  hsts: 1y\n  minVersion: "1.3"\n');
    expect(loadConfig({ config: path }, { SOAKP_TLS_CERT: '/env/cert.pem' }).config.tls).toMatchObject({ cert: '/env/cert.pem', key: '/file/key.pem', hsts: 31_536_000_000, minVersion: '1.3' });
    expect(loadConfig({ config: path, tlsKey: '/flag/key.pem' }, { SOAKP_TLS_KEY: '/env/key.pem' }).config.tls.key).toBe('/flag/key.pem');
  });

  it('reads names from SOAKP_TLS_NAME, comma-separated, and from repeated --tls-name', () => {
    expect(loadConfig({}, { SOAKP_TLS: 'local', SOAKP_TLS_NAME: 'a.test, 10.0.0.1' }).config.tls).toMatchObject({ mode: 'local', names: ['a.test', '10.0.0.1'] });
    expect(loadConfig({ tls: 'local', tlsName: ['b.test', 'c.test'] }, { SOAKP_TLS_NAME: 'a.test' }).config.tls.names).toEqual(['b.test', 'c.test']);
  });

  it('defaults to no TLS and version 1.2', () => {
    const { tls } = loadConfig({}, {}).config;
    expect(tls).toMatchObject({ names: [], minVersion: '1.2', acme: { domains: [], staging: false, challenge: 'http-01', pollInterval: 5_000 } });
    expect([tls.cert, tls.key, tls.mode, tls.hsts]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('refuses one of cert and key without the other, files with a mode, and a bad version', () => {
    expect(() => loadConfig({ tlsCert: '/c.pem' }, {})).toThrow(/tls: give both cert and key \(--tls-cert and --tls-key\), or neither \(from --tls-cert\)/);
    expect(() => loadConfig({ tlsCert: '/c.pem', tlsKey: '/k.pem' }, { SOAKP_TLS: 'local' })).toThrow(/either certificate files or a mode/);
    expect(() => loadConfig({}, { SOAKP_TLS: 'self' })).toThrow(/tls\.mode: must be one of: local, acme \(from SOAKP_TLS\)/);
    const path = file('v.yaml', 'tls:\n  minVersion: "1.1"\n  hsts: forever\n');
    expect(() => loadConfig({ config: path }, {})).toThrow(/tls\.minVersion: must be one of: 1\.2, 1\.3[\s\S]*tls\.hsts: must be a duration/);
  });
});

describe('acme settings', () => {
  it('reads flags over the environment over the file, lists comma-separated or repeated', () => {
    const env = { SOAKP_TLS: 'acme', SOAKP_ACME_DOMAIN: 'a.test, b.test', SOAKP_ACME_EMAIL: 'env@x.test', SOAKP_HTTP_PORT: '8080', SOAKP_ACME_EAB_KID: 'kid', SOAKP_ACME_EAB_HMAC_KEY: 'hmac', SOAKP_ACME_STAGING: 'yes' };
    const { config } = loadConfig({ acmeEmail: 'flag@x.test' }, env);
    expect(config.httpPort).toBe(8080);
    expect(config.tls.acme).toMatchObject({ domains: ['a.test', 'b.test'], email: 'flag@x.test', eabKid: 'kid', eabHmacKey: 'hmac', staging: true, challenge: 'http-01' });
    const dns = loadConfig({ tls: 'acme', acmeDomain: ['*.c.test', 'c.test'], acmeChallenge: 'dns-01', acmeDns: 'exec', acmeDnsExec: '/hook' }, {}).config.tls.acme;
    expect(dns).toMatchObject({ domains: ['*.c.test', 'c.test'], challenge: 'dns-01', dns: 'exec', dnsExec: '/hook' });
  });

  it('keeps the config file section and fills it in', () => {
    const path = file('acme.yaml', 'httpPort: 80\ntls:\n  mode: acme\n  acme:\n    domains: [x.test]\n    propagation:\n      resolvers: ["127.0.0.1:53"]\n      delay: 30s\n');
    const { tls } = loadConfig({ config: path, acmeDirectory: 'https://ca.test/dir' }, {}).config;
    expect(tls.acme).toMatchObject({ domains: ['x.test'], directory: 'https://ca.test/dir', propagation: { resolvers: ['127.0.0.1:53'], delay: 30_000, timeout: 120_000 }, retryMin: 300_000, retryMax: 3_600_000 });
  });

  it.each([
    [{ tls: 'acme', httpPort: '80' }, {}, /ACME needs at least one domain name \(--acme-domain\)/],
    [{ tls: 'acme', acmeDomain: ['*.a.test'], httpPort: '80' }, {}, /\*\.a\.test: a wildcard name can only be validated with dns-01/],
    [{ tls: 'acme', acmeDomain: ['a.test'] }, {}, /http-01 needs httpPort \(--http-port\)/],
    [{ tls: 'acme', acmeDomain: ['a.test'], acmeChallenge: 'dns-01' }, {}, /dns-01 needs a DNS provider/],
    [{ tls: 'acme', acmeDomain: ['a.test'], acmeChallenge: 'dns-01', acmeDns: 'cloudflare', acmeDnsExec: '/x' }, {}, /dnsExec: only with the exec DNS provider/],
    [{ tls: 'acme', acmeDomain: ['a.test'], httpPort: '80', acmeEabKid: 'k' }, {}, /External Account Binding needs both/],
    [{ acmeDomain: ['a.test'] }, {}, /ACME settings are given but tls\.mode is not set/],
    [{ httpPort: '8080' }, {}, /httpPort: only with TLS on/],
    [{ tls: 'local', httpPort: '3000' }, {}, /httpPort: must differ from port/],
    [{ tls: 'acme', acmeDomain: ['a.test'], acmeChallenge: 'tls-alpn-01' }, {}, /tls\.acme\.challenge: must be one of: http-01, dns-01 \(from [^)]*--acme-challenge\)/],
    [{}, { SOAKP_TLS: 'acme', SOAKP_ACME_DOMAIN: 'a.test', SOAKP_HTTP_PORT: '80', SOAKP_ACME_STAGING: 'maybe' }, /tls\.acme\.staging: must be true or false \(from [^)]*SOAKP_ACME_STAGING/],
  ])('refuses %j %j', (flags, env, message) => {
    expect(() => loadConfig(flags as Overrides, env)).toThrow(message);
  });

  it('refuses a DNS propagation wait that would leave an order no time (an order is given up after 30 minutes)', () => {
    const path = file('slow.yaml', 'tls:\n  mode: acme\n  acme:\n    domains: [a.test]\n    challenge: dns-01\n    dns: cloudflare\n    propagation:\n      timeout: 20m\n');
    expect(() => loadConfig({ config: path }, {})).toThrow(/tls\.acme\.propagation\.timeout: must be at most 10m/);
  });
});

describe('loadConfig secrets from files (_FILE)', () => {
  it('reads SOAKP_DATABASE_URL_FILE and SOAKP_REDIS_URL_FILE, trimmed, over the config file', () => {
    const path = file('c.yaml', 'databaseUrl: postgres://file@db/soakp\n');
    const db = file('db-url', 'postgres://soakp:s3cret@db:5432/soakp\n');
    const redis = file('redis-url', 'redis://:s3cret@redis:6379\n');
    const { config } = loadConfig({ config: path }, { SOAKP_DATABASE_URL_FILE: db, SOAKP_REDIS_URL_FILE: redis });
    expect(config.databaseUrl).toBe('postgres://soakp:s3cret@db:5432/soakp');
    expect(config.rateLimits.redisUrl).toBe('redis://:s3cret@redis:6379');
  });

  it('lets the variable itself and the flag win over the file', () => {
    const db = file('db-url', 'postgres://file@db/soakp');
    expect(loadConfig({}, { SOAKP_DATABASE_URL: 'postgres://env@db/soakp', SOAKP_DATABASE_URL_FILE: db }).config.databaseUrl).toBe('postgres://env@db/soakp');
    expect(loadConfig({ databaseUrl: 'postgres://flag@db/soakp' }, { SOAKP_DATABASE_URL_FILE: db }).config.databaseUrl).toBe('postgres://flag@db/soakp');
  });

  it('refuses a file that cannot be read, naming the variable and not the contents', () => {
    const problems = problemsOf(errorOf(() => loadConfig({}, { SOAKP_DATABASE_URL_FILE: join(dir, 'missing') })));
    expect(problems).toEqual([`SOAKP_DATABASE_URL_FILE: cannot read ${join(dir, 'missing')} (ENOENT)`]);
  });
});
