import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

// Text that reaches a terminal: colours, a window-title escape, a bell, a carriage return that
// overwrites the line, a C1 control, a bidi override, and a tab and a new line that would
// split a table cell.
const HOSTILE = 'a\u001b[31mred\u001b]0;pwned\u0007b\rc\u009bd\u202Ee\tf\ng';

describe('CLI output with control characters in stored text', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
    json(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--no-token', '--json'], env));
    json(await runCli(['token', 'issue', 'a@example.com', '--name', HOSTILE, '--json'], env));
  });
  afterEach(() => temp.cleanup());

  it('prints them escaped in tables, one line per row, so a terminal never interprets them', async () => {
    for (const args of [['token', 'list'], ['audit', 'list']]) {
      const r = await runCli(args, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
      expect(r.stdout).toContain('a\\u001b[31mred\\u001b]0;pwned\\u0007b\\rc\\u009bd\\u202ee\\tf\\ng');
      if (args[0] === 'token') expect(r.stdout.trimEnd().split('\n')).toHaveLength(2); // header and one token
    }
  });

  it('prints them escaped in error messages too', async () => {
    const r = await runCli(['token', 'revoke', HOSTILE], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('No token with id a\\u001b[31mred');
    expect(r.stderr).not.toMatch(/[\u001b\u0007\u009b\u202e\r]/);
  });

  it('keeps the exact text in --json output, with every control and bidi character escaped', async () => {
    const r = await runCli(['token', 'list', '--json'], env);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(json<Array<{ name: string }>>(r).map((t) => t.name)).toContain(HOSTILE);
  });
});
