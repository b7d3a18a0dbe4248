import type { Logger } from '../../shared/index.js';
import type { CertificatePair } from '../source.js';

const DAY = 86_400_000;
/** Renewal failures turn from warnings into errors this close to expiry. */
const LOUD_BEFORE = 7 * DAY;

/** One line per failed order, louder as the served certificate nears its end (docs/tls.md, "When renewal fails"). */
export function logFailure(log: Logger, served: { readonly pair: CertificatePair; readonly real: boolean }, reason: string, retryAt: number, now: number): void {
  const { pair, real } = served;
  const retry = new Date(retryAt).toISOString();
  const left = pair.notAfter.getTime() - now;
  const notAfter = pair.notAfter.toISOString();
  if (!real) log.error({ reason, retryAt: retry }, 'No TLS certificate could be obtained: HTTPS serves a placeholder and /readyz answers 503 (docs/tls.md, "When renewal fails")');
  else if (left <= 0) log.error({ reason, retryAt: retry, notAfter }, 'The TLS certificate has EXPIRED and could not be renewed: clients refuse it');
  else if (left < LOUD_BEFORE) log.error({ reason, retryAt: retry, notAfter }, `The TLS certificate expires in ${Math.ceil(left / DAY)} day(s) and could not be renewed`);
  else log.warn({ reason, retryAt: retry, notAfter }, 'TLS certificate renewal failed; the current certificate stays in use');
}
