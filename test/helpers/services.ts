import { Redis } from 'ioredis';

/** CI sets this: there the services must run, and a test that needs one fails instead of skipping. */
export const SERVICES_REQUIRED = process.env.SOAKP_TEST_REQUIRE_SERVICES === '1';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** True when Redis answers on 127.0.0.1:6379; prints why a suite skips when it does not. */
export async function redisAvailable(suite: string): Promise<boolean> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  probe.on('error', () => undefined); // the outcome is the answer
  let ok = false;
  try {
    await probe.connect();
    ok = (await probe.ping()) === 'PONG';
  } catch {
    ok = false;
  } finally {
    probe.disconnect();
  }
  if (!ok && !SERVICES_REQUIRED) console.warn(`Redis at ${REDIS_URL} is not reachable: skipping "${suite}" (set SOAKP_TEST_REQUIRE_SERVICES=1 to fail instead).`);
  return ok || SERVICES_REQUIRED;
}
