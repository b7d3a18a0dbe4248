import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FakeRoute53, type FakeRoute53Options, fakeRoute53 } from '../../../../test/helpers/fake-route53.js';
import { tempDir } from '../../../../test/helpers/temp.js';
import { createDnsProvider } from './create.js';
import { route53Provider } from './route53.js';

// Obviously fake keys (AWS's documentation example): the fake API never checks signatures.
const KEYS = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const FQDN = '_acme-challenge.a.example.com.';
const ZONES = [{ id: 'ZPARENT', name: 'example.com.' }, { id: 'ZPRIVATE', name: 'a.example.com.', private: true }, { id: 'ZOTHER', name: 'other.org.' }];

const fakes: FakeRoute53[] = [];
// The pinned SDK runs on Node 20; its notice that later versions will not is noise here.
beforeEach(() => vi.stubEnv('AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', 'true'));
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});
const start = async (options: Partial<FakeRoute53Options> = {}): Promise<FakeRoute53> => {
  const fake = await fakeRoute53({ zones: ZONES, ...options });
  fakes.push(fake);
  return fake;
};
const provider = (fake: FakeRoute53, env: NodeJS.ProcessEnv = {}) =>
  route53Provider({ env: { ...KEYS, ...env }, baseUrl: fake.base, pollIntervalMs: 1, pollTimeoutMs: 5_000 });
/** `Action detail` per request, as the fake saw it (the SDK writes TXT quotes as &quot;). */
const calls = (fake: FakeRoute53): string[] =>
  fake.requests.map((req) => {
    if (req.path.endsWith('/hostedzonesbyname')) return `ListHostedZonesByName ${req.query.dnsname}`;
    if (req.path.startsWith('/2013-04-01/change/')) return `GetChange ${req.path.split('/').pop()}`;
    const zone = req.path.split('/')[3];
    if (req.method === 'GET') return `ListResourceRecordSets ${zone} ${req.query.name} ${req.query.type}`;
    return `Change ${zone} ${/<Action>(\w+)<\/Action>/.exec(req.body)?.[1]} ${[...req.body.matchAll(/<Value>([^<]*)<\/Value>/g)].map((m) => m[1]!.replaceAll('&quot;', '"')).join(',')}`;
  });

describe('route53 DNS provider', () => {
  it('present adds its value (TTL 60, quoted) in the longest public zone, signed with the keys, and waits until INSYNC', async () => {
    const fake = await start({ pendingPolls: 2 });
    // Listed right after the name, which has no set yet: not a set to add to.
    fake.setRecord('ZPARENT', 'b.example.com.', 'TXT', ['"v=spf1 -all"']);
    await provider(fake).present(FQDN, 'v4lue');
    expect(fake.values('ZPARENT', FQDN)).toEqual(['"v4lue"']);
    expect(fake.values('ZPARENT', 'b.example.com.')).toEqual(['"v=spf1 -all"']);
    expect(calls(fake)).toEqual([
      'ListHostedZonesByName _acme-challenge.a.example.com.',
      'ListHostedZonesByName a.example.com.',
      'ListHostedZonesByName example.com.',
      `ListResourceRecordSets ZPARENT ${FQDN} TXT`,
      'Change ZPARENT UPSERT "v4lue"',
      'GetChange C1',
      'GetChange C1',
      'GetChange C1',
    ]);
    expect(fake.requests[4]!.body).toContain('<TTL>60</TTL>');
    expect(fake.requests.every((req) => req.auth.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/'))).toBe(true);
  });

  it('a second value at the name (wildcard and apex) is added beside the first, also at once; cleanup takes only its own', async () => {
    const fake = await start();
    fake.setRecord('ZPARENT', FQDN, 'TXT', ['"someone else"'], 300);
    const dns = createDnsProvider({ provider: 'route53', env: { ...KEYS, AWS_HOSTED_ZONE_ID: 'ZPARENT' }, baseUrl: fake.base });
    await Promise.all([dns.present(FQDN, 'apex'), dns.present(FQDN, 'wildcard')]);
    expect(fake.values('ZPARENT', FQDN)).toEqual(['"someone else"', '"apex"', '"wildcard"']);
    await dns.present(FQDN, 'apex');
    await dns.cleanup(FQDN, 'apex');
    expect(fake.values('ZPARENT', FQDN)).toEqual(['"someone else"', '"wildcard"']);
    fake.setRecord('ZPARENT', FQDN, 'TXT', ['"wildcard"']);
    await dns.cleanup(FQDN, 'wildcard');
    expect(fake.values('ZPARENT', FQDN)).toBeUndefined();
    expect(calls(fake).filter((call) => call.startsWith('Change'))).toEqual([
      'Change ZPARENT UPSERT "someone else","apex"',
      'Change ZPARENT UPSERT "someone else","apex","wildcard"',
      'Change ZPARENT UPSERT "someone else","wildcard"',
      'Change ZPARENT DELETE "wildcard"',
    ]);
  });

  it('cleanup after a present that never ran: no zone, no record or not its value is no error and no change', async () => {
    const fake = await start();
    fake.setRecord('ZPARENT', 'b.example.com.', 'TXT', ['"v"']);
    await provider(fake).cleanup(FQDN, 'v');
    fake.setRecord('ZPARENT', FQDN, 'TXT', ['"other"']);
    await provider(fake).cleanup(FQDN, 'v');
    await provider(fake).cleanup('_acme-challenge.nowhere.test.', 'v');
    expect(calls(fake).some((call) => call.startsWith('Change'))).toBe(false);
    expect(fake.values('ZPARENT', FQDN)).toEqual(['"other"']);
  });

  it('a delegated sub-zone wins over its parent; private zones are skipped; AWS_HOSTED_ZONE_ID skips the lookup', async () => {
    const fake = await start({ zones: [...ZONES, { id: 'ZCHILD', name: 'a.example.com.' }] });
    await provider(fake).present(FQDN, 'v');
    expect(fake.values('ZCHILD', FQDN)).toEqual(['"v"']);
    expect(calls(fake).filter((call) => call.startsWith('ListHostedZonesByName'))).toHaveLength(2);
    fake.requests.length = 0;
    await provider(fake, { AWS_HOSTED_ZONE_ID: 'ZPRIVATE' }).present(FQDN, 'pinned');
    expect(fake.values('ZPRIVATE', FQDN)).toEqual(['"pinned"']);
    expect(calls(fake)[0]).toBe(`ListResourceRecordSets ZPRIVATE ${FQDN} TXT`);
    expect(calls(fake).some((call) => call.startsWith('ListHostedZonesByName'))).toBe(false);
    await expect(provider(fake).present('_acme-challenge.nowhere.test.', 'v')).rejects.toThrow(/route53: no public hosted zone found for _acme-challenge\.nowhere\.test\./);
  });

  it('an API error names the action, the status and AWS code, never a key; a change never INSYNC times out', async () => {
    const denied = await start({
      fail: (req) => (req.method === 'POST' ? { status: 403, code: 'AccessDenied', message: `User: arn:aws:iam::123456789012:user/acme is not authorized (${req.auth})` } : undefined),
    });
    const failed = provider(denied, { AWS_SESSION_TOKEN: 'session-EXAMPLE' }).present(FQDN, 'v');
    await expect(failed).rejects.toMatchObject({ name: 'AcmeError', code: 'acme_dns_provider_failed', message: expect.stringMatching(/^route53: ChangeResourceRecordSets failed: 403 AccessDenied: User: arn:aws:iam::123456789012:user\/acme is not authorized/) });
    await expect(failed).rejects.toSatisfy((err: Error) => !/AKIDEXAMPLE|wJalrXUtnFEMI|session-EXAMPLE/.test(err.message));
    const pending = await start({ pendingPolls: Number.POSITIVE_INFINITY });
    const slow = route53Provider({ env: KEYS, baseUrl: pending.base, pollIntervalMs: 1, pollTimeoutMs: 30 });
    await expect(slow.present(FQDN, 'v')).rejects.toMatchObject({ code: 'acme_dns_propagation_timeout', message: 'route53: change /change/C1 not INSYNC within 30 ms' });
  });
});

describe('route53 credentials', () => {
  const temp = tempDir('soakp-route53-');
  afterAll(() => temp.cleanup());
  // The SDK's chain reads the process environment itself: keep it off this machine's AWS files and roles.
  beforeEach(() => {
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN']) vi.stubEnv(name, undefined);
    for (const name of ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) vi.stubEnv(name, undefined);
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(temp.dir, 'absent-credentials'));
    vi.stubEnv('AWS_CONFIG_FILE', join(temp.dir, 'config'));
    writeFileSync(join(temp.dir, 'config'), '[profile soakp]\naws_access_key_id = AKIDPROFILEEXAMPLE\naws_secret_access_key = profile-secret-EXAMPLE\n');
  });

  it('none anywhere: check() refuses with invalid_config, before any API call', async () => {
    const fake = await start();
    const dns = createDnsProvider({ provider: 'route53', env: { AWS_EC2_METADATA_DISABLED: 'true' }, baseUrl: fake.base });
    await expect(dns.check!()).rejects.toMatchObject({
      name: 'SoakpError',
      code: 'invalid_config',
      message: expect.stringMatching(/^ACME DNS provider route53 needs AWS credentials \(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a container or instance role\): Could not load credentials/),
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('keys in the env, or AWS_PROFILE from the shared files, pass check() and sign the calls; half a key pair is refused at once', async () => {
    const fake = await start();
    await expect(provider(fake).check!()).resolves.toBeUndefined();
    const profiled = route53Provider({ env: { AWS_PROFILE: 'soakp' }, baseUrl: fake.base, pollIntervalMs: 1 });
    await profiled.check!();
    await profiled.present(FQDN, 'v');
    expect(fake.requests[0]!.auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDPROFILEEXAMPLE\//);
    expect(() => createDnsProvider({ provider: 'route53', env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' } })).toThrow(
      expect.objectContaining({ code: 'invalid_config', message: 'ACME DNS provider route53 needs both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither' }),
    );
  });
});
