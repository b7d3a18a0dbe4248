import type { Route53 } from '@aws-sdk/client-route-53';
import { SoakpError } from '../../../shared/index.js';
import { AcmeError } from '../errors.js';

export interface Route53Api {
  /** One SDK call; its failure becomes an AcmeError naming the action, never a key. */
  call<T>(action: string, run: (r53: Route53) => Promise<T>): Promise<T>;
  /** Resolves the credentials now: SoakpError('invalid_config') when there are none. */
  check(): Promise<void>;
}

/**
 * The Route 53 client for `env`: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 * when set, else the SDK's default chain with AWS_PROFILE. That chain reads the process
 * environment itself (shared files, web identity, container and instance roles): the SDK takes
 * no environment object. AWS_REGION, default us-east-1: Route 53 is global.
 */
export function route53Api(env: NodeJS.ProcessEnv, baseUrl?: string): Route53Api {
  const key = env.AWS_ACCESS_KEY_ID || undefined;
  const secret = env.AWS_SECRET_ACCESS_KEY || undefined;
  if ((key === undefined) !== (secret === undefined)) {
    throw new SoakpError('invalid_config', 'ACME DNS provider route53 needs both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  }
  const session = env.AWS_SESSION_TOKEN || undefined;
  const secrets = [key, secret, session].filter((text) => text !== undefined);
  // The SDK adds ~20 MB to the process: loaded only once route53 is used.
  let client: Promise<Route53> | undefined;
  const api = (): Promise<Route53> =>
    (client ??= import('@aws-sdk/client-route-53').then(
      (sdk) =>
        new sdk.Route53({
          region: env.AWS_REGION || 'us-east-1',
          ...(key === undefined ? {} : { credentials: { accessKeyId: key, secretAccessKey: secret!, sessionToken: session } }),
          ...(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
          ...(baseUrl === undefined ? {} : { endpoint: baseUrl }),
          requestHandler: { connectionTimeout: 10_000, requestTimeout: 30_000 },
        }),
    ));
  return {
    async call(action, run) {
      const r53 = await api();
      try {
        return await run(r53);
      } catch (err) {
        const { name, message, $metadata } = err as Error & { $metadata?: { httpStatusCode?: number } };
        const status = $metadata?.httpStatusCode === undefined ? '' : ` ${$metadata.httpStatusCode}`;
        // AWS messages name the caller's ARN, not its keys; keys are taken out all the same.
        const text = secrets.reduce((acc, word) => acc.replaceAll(word, '[redacted]'), `route53: ${action} failed:${status} ${name}: ${message}`);
        throw new AcmeError('acme_dns_provider_failed', text.slice(0, 400), { cause: err });
      }
    },
    async check() {
      const r53 = await api();
      try {
        await r53.config.credentials();
      } catch (err) {
        const how = 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a container or instance role';
        throw new SoakpError('invalid_config', `ACME DNS provider route53 needs AWS credentials (${how}): ${(err as Error).message}`);
      }
    },
  };
}
