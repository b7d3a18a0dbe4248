import type { ResourceRecordSet } from '@aws-sdk/client-route-53';
import { AcmeError } from '../errors.js';
import type { DnsProvider } from './provider.js';
import { candidateZones } from './rest.js';
import { route53Api } from './route53-api.js';

export interface Route53Options {
  /** Credentials and region (see route53Api); AWS_HOSTED_ZONE_ID pins the zone, any zone. */
  readonly env: NodeJS.ProcessEnv;
  /** The API's endpoint (a test's fake server). */
  readonly baseUrl?: string;
  /** How often and how long to ask whether a change is INSYNC (default 2 s, 120 s). */
  readonly pollIntervalMs?: number;
  readonly pollTimeoutMs?: number;
}

const TTL = 60;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
// Route 53 keeps TXT strings quoted; an ACME value (base64url) needs no escaping.
const quoted = (value: string): string => `"${value}"`;

/**
 * DNS-01 through Route 53. A wildcard and its apex publish two values at one name: present adds
 * its value to the TXT set, cleanup takes only its own away. present returns once Route 53
 * reports the change INSYNC on its servers; soakp's own propagation wait (waitForTxt) follows.
 */
export function route53Provider(options: Route53Options): DnsProvider {
  const { call, check } = route53Api(options.env, options.baseUrl);
  const pinned = options.env.AWS_HOSTED_ZONE_ID || undefined;
  const zones = new Map<string, string>();
  // Public zones only, the longest first (a delegated sub-zone wins over its parent): the CA's
  // resolvers cannot see a private zone. ListHostedZonesByName lists zones of one name together.
  const zoneOf = async (fqdn: string): Promise<string | undefined> => {
    if (pinned !== undefined || zones.has(fqdn)) return pinned ?? zones.get(fqdn);
    for (const name of candidateZones(fqdn).map((zone) => `${zone}.`.toLowerCase())) {
      const { HostedZones = [] } = await call('ListHostedZonesByName', (r53) => r53.listHostedZonesByName({ DNSName: name, MaxItems: 10 }));
      const zone = HostedZones.find((z) => z.Name?.toLowerCase() === name && z.Config?.PrivateZone !== true);
      if (zone?.Id !== undefined) return zones.set(fqdn, zone.Id).get(fqdn);
    }
    return undefined;
  };
  const txtSet = async (zone: string, fqdn: string): Promise<ResourceRecordSet | undefined> => {
    const query = { HostedZoneId: zone, StartRecordName: fqdn, StartRecordType: 'TXT' as const, MaxItems: 1 };
    const { ResourceRecordSets = [] } = await call('ListResourceRecordSets', (r53) => r53.listResourceRecordSets(query));
    // The listing starts at the name: its first set is another one when the name has none.
    const set = ResourceRecordSets[0];
    return set?.Type === 'TXT' && set.Name?.toLowerCase() === fqdn.toLowerCase() ? set : undefined;
  };
  const change = async (zone: string, Action: 'UPSERT' | 'DELETE', ResourceRecordSet: ResourceRecordSet): Promise<string | undefined> => {
    const batch = { HostedZoneId: zone, ChangeBatch: { Comment: 'soakp ACME dns-01', Changes: [{ Action, ResourceRecordSet }] } };
    const { ChangeInfo } = await call('ChangeResourceRecordSets', (r53) => r53.changeResourceRecordSets(batch));
    return ChangeInfo?.Status === 'INSYNC' ? undefined : ChangeInfo?.Id;
  };
  const upsert = (zone: string, fqdn: string, values: string[]): Promise<string | undefined> =>
    change(zone, 'UPSERT', { Name: fqdn, Type: 'TXT', TTL, ResourceRecords: values.map((Value) => ({ Value })) });
  // Read, change, write of one shared set: two at once (apex and wildcard) would lose a value.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(step: () => Promise<T>): Promise<T> => {
    const run = queue.then(step, step);
    queue = run.catch(() => undefined);
    return run;
  };
  const inSync = async (id: string): Promise<void> => {
    const timeoutMs = options.pollTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { ChangeInfo } = await call('GetChange', (r53) => r53.getChange({ Id: id }));
      if (ChangeInfo?.Status === 'INSYNC') return;
      const left = deadline - Date.now();
      if (left <= 0) throw new AcmeError('acme_dns_propagation_timeout', `route53: change ${id} not INSYNC within ${timeoutMs} ms`);
      await sleep(Math.min(options.pollIntervalMs ?? 2_000, left));
    }
  };
  return {
    name: 'route53',
    check,
    async present(fqdn, value) {
      const zone = await zoneOf(fqdn);
      if (zone === undefined) throw new AcmeError('acme_dns_provider_failed', `route53: no public hosted zone found for ${fqdn}`);
      const id = await serially(async () => {
        const values = (await txtSet(zone, fqdn))?.ResourceRecords?.map((record) => record.Value ?? '') ?? [];
        return values.includes(quoted(value)) ? undefined : upsert(zone, fqdn, [...values, quoted(value)]);
      });
      if (id !== undefined) await inSync(id);
    },
    async cleanup(fqdn, value) {
      // No zone, no set, or not our value: nothing was published, nothing to do.
      const zone = await zoneOf(fqdn);
      if (zone === undefined) return;
      await serially(async () => {
        const set = await txtSet(zone, fqdn);
        const records = set?.ResourceRecords ?? [];
        const rest = records.map((record) => record.Value ?? '').filter((text) => text !== quoted(value));
        if (set === undefined || rest.length === records.length) return;
        // A DELETE must name the set exactly as it is; an UPSERT of no values is refused.
        await (rest.length === 0 ? change(zone, 'DELETE', set) : upsert(zone, fqdn, rest));
      });
    },
  };
}
