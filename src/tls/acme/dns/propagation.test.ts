import { afterEach, describe, expect, it } from 'vitest';
import { type TestDns, type TestDnsOptions, startTestDns } from '../../../../test/helpers/dns-server.js';
import { waitForTxt } from './propagation.js';

const NAME = '_acme-challenge.app.example.test';

describe('waitForTxt at the authoritative servers', () => {
  const servers: TestDns[] = [];
  afterEach(async () => Promise.all(servers.splice(0).map((dns) => dns.close())));

  /** One server answering discovery and, as both name servers of example.test (A 127.0.0.1), the TXT queries. */
  async function zone(options: TestDnsOptions = {}): Promise<{ dns: TestDns; port: number; options: { discoveryResolvers: string[]; nameserverPort: number } }> {
    const dns = await startTestDns(options);
    servers.push(dns);
    dns.setNs('example.test', ['ns2.example.test', 'ns1.example.test']);
    const port = Number(dns.address.split(':')[1]);
    return { dns, port, options: { discoveryResolvers: [dns.address], nameserverPort: port } };
  }
  const txtQueries = (dns: TestDns): string[] => dns.queries.filter((q) => q.startsWith('TXT '));

  it('finds the NS at the zone apex, two labels up, and waits until every server has the value', async () => {
    // Query 1 and 2 go out together, one to each server: one has it; the other has it from query 4.
    const { dns, options } = await zone({ answerTxt: (_name, n, records) => (n === 2 || n >= 4 ? records : []) });
    dns.setTxt(NAME, 'token');
    await waitForTxt(`${NAME}.`, 'token', { ...options, intervalMs: 5, timeoutMs: 10_000 });
    expect(dns.queries.slice(0, 4)).toEqual([`CNAME ${NAME}`, `NS ${NAME}`, 'NS app.example.test', 'NS example.test']);
    expect(dns.queries.filter((q) => q.startsWith('A '))).toEqual(['A ns1.example.test', 'A ns2.example.test']);
    // Any one server would have done after 2; the second server needed two more.
    expect(txtQueries(dns)).toEqual(Array(4).fill(`TXT ${NAME}`));
    expect(dns.queries).not.toContain('NS test');
  });

  it('times out naming the zone, each server and what it answered last', async () => {
    const { dns, port, options } = await zone({ answerTxt: (_name, n) => (n === 1 ? ['token'] : ['stale']) });
    const failed = waitForTxt(`${NAME}.`, 'token', { ...options, intervalMs: 5, timeoutMs: 200 });
    const server = (n: number): string => `ns${n}\\.example\\.test \\(127\\.0\\.0\\.1:${port}\\): (has it|1 other TXT record\\(s\\))`;
    await expect(failed).rejects.toMatchObject({
      code: 'acme_dns_propagation_timeout',
      message: expect.stringMatching(new RegExp(`^TXT record for ${NAME}\\. not seen within 200 ms at every authoritative server of example\\.test \\(${server(1)}; ${server(2)}\\)$`)),
    });
    await expect(failed).rejects.toSatisfy((err: Error) => err.message.split('has it').length === 2);
    expect(txtQueries(dns).length).toBeGreaterThan(2);
  });

  it('follows a CNAME to the zone it is delegated to', async () => {
    const { dns, options } = await zone();
    dns.setCname(NAME, '_acme-challenge.app.acme.delegated.test.');
    dns.setNs('delegated.test', ['ns.delegated.test']);
    dns.setTxt('_acme-challenge.app.acme.delegated.test', 'token');
    await waitForTxt(NAME, 'token', { ...options, intervalMs: 5, timeoutMs: 10_000 });
    expect(txtQueries(dns)).toEqual(['TXT _acme-challenge.app.acme.delegated.test']);
    expect(dns.queries).toContain('NS acme.delegated.test');
  });

  it('without NS records, or when discovery fails, asks the discovery resolvers and says so on timeout', async () => {
    const dns = await startTestDns();
    servers.push(dns);
    dns.setTxt('_acme-challenge.nowhere.test', 'token');
    await waitForTxt('_acme-challenge.nowhere.test.', 'token', { discoveryResolvers: [dns.address], nameserverPort: 1, intervalMs: 5, timeoutMs: 10_000 });
    expect(dns.queries.filter((q) => !q.startsWith('CNAME '))).toEqual(['NS _acme-challenge.nowhere.test', 'NS nowhere.test', 'TXT _acme-challenge.nowhere.test']);

    await expect(waitForTxt('_acme-challenge.other.test.', 'token', { discoveryResolvers: [dns.address], intervalMs: 5, timeoutMs: 100 })).rejects.toMatchObject({
      code: 'acme_dns_propagation_timeout',
      message: `TXT record for _acme-challenge.other.test. not seen within 100 ms at ${dns.address}, the authoritative servers not found (no NS records for _acme-challenge.other.test or the names above it) (ENODATA)`,
    });
    // Nothing listens on the closed port: the lookups fail, and the message keeps why.
    const closed = await startTestDns();
    const dead = closed.address;
    await closed.close();
    await expect(waitForTxt(`${NAME}.`, 'token', { discoveryResolvers: [dead], intervalMs: 5, timeoutMs: 100 })).rejects.toThrow(
      new RegExp(`at ${dead}, the authoritative servers not found \\(queryCname ECONNREFUSED ${NAME}\\) \\(ECONNREFUSED\\)$`),
    );
  });

  it('an explicit list of resolvers is asked as it is, with no discovery', async () => {
    const { dns } = await zone();
    dns.setTxt(NAME, 'token');
    await waitForTxt(NAME, 'token', { resolvers: [dns.address], intervalMs: 5, timeoutMs: 10_000 });
    expect(dns.queries).toEqual([`TXT ${NAME}`]);
  });
});
