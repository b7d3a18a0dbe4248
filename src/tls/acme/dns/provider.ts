/**
 * A DNS provider's part in DNS-01 (RFC 8555 §8.4): publish a TXT record and take it away.
 * `fqdn` is absolute, with its trailing dot (`_acme-challenge.example.com.`); a wildcard and
 * its apex share one name with two values, so both methods MUST act on that one value only.
 * `cleanup` MUST be safe to call after a `present` that failed or never ran.
 */
export interface DnsProvider {
  readonly name: string;
  /**
   * Checks what the constructor could not, such as credentials that come from an instance role:
   * SoakpError('invalid_config') when they are missing. Run before an order starts.
   */
  check?(): Promise<void>;
  present(fqdn: string, value: string): Promise<void>;
  cleanup(fqdn: string, value: string): Promise<void>;
}
