import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

// The compose stack, the Kubernetes example and the systemd unit cannot run here (no registry,
// cluster or systemd): these tests load them and check the wiring that matters.
const ROOT = join(import.meta.dirname, '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const CONFIGURATION = read('docs/configuration.md');

type Env = Record<string, string>;
interface Service {
  image?: string;
  build?: string;
  environment?: Env;
  secrets?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  entrypoint?: string[];
  stop_grace_period?: string;
  profiles?: string[];
}

/** Values that hold a secret: a literal one would be in the file (and in git) for good. */
const SECRET_NAME = /KEY|SECRET|PASSWORD|TOKEN|_URL$/;
const LITERAL_SECRET = [/sk-[A-Za-z0-9_-]{16,}/, /\b[0-9a-f]{32,}\b/i, /[A-Za-z0-9+/]{40,}={0,2}/, /:\/\/[^/\s:@]+:[^/\s@<]+@/];

/** Every SOAKP_ variable a deployment sets must be one soakp reads (a typo is silently ignored). */
function expectKnownSettings(env: Env): void {
  for (const name of Object.keys(env).filter((n) => n.startsWith('SOAKP_'))) expect(CONFIGURATION, name).toContain(`\`${name}\``);
}

describe('compose.yaml', () => {
  const text = read('compose.yaml');
  const compose = parse(text) as { services: Record<string, Service>; secrets: Record<string, { file: string }> };
  const { soakp, postgres, redis } = compose.services as Record<'soakp' | 'postgres' | 'redis', Service>;
  const owui = compose.services['open-webui'] as Service;
  const connect = compose.services['soakp-connect'] as Service;

  it("builds and runs soakp's own image, healthy on /readyz, after PostgreSQL and Redis are healthy", () => {
    expect(soakp.image).toBe('soakp:latest');
    expect(soakp.build).toBe('.');
    expect(soakp.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:3000/readyz');
    expect(soakp.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(postgres.healthcheck?.test).toContain('pg_isready');
    expect(redis.healthcheck?.test).toContain('ping');
    expect(owui.depends_on).toEqual({ soakp: { condition: 'service_healthy' } });
    // Longer than the default shutdown grace of 10 s.
    expect(Number.parseInt(soakp.stop_grace_period ?? '0', 10)).toBeGreaterThan(10);
  });

  it('points soakp at the PostgreSQL and Redis services, with the database password from a secret file', () => {
    const env = soakp.environment as Env;
    expectKnownSettings(env);
    expect(env.SOAKP_REDIS_URL).toBe('redis://redis:6379');
    expect(env.SOAKP_DATABASE_URL_FILE).toBe('/run/secrets/soakp_database_url');
    expect(env.SOAKP_MASTER_KEY_FILE).toBe('/run/secrets/soakp_master_key');
    expect(soakp.secrets).toEqual(['soakp_master_key', 'soakp_database_url']);
    expect(postgres.environment).toMatchObject({ POSTGRES_USER: 'soakp', POSTGRES_DB: 'soakp', POSTGRES_PASSWORD_FILE: '/run/secrets/postgres_password' });
    for (const name of ['soakp_master_key', 'soakp_database_url', 'postgres_password']) expect(compose.secrets[name]?.file).toBe(`./secrets/${name}`);
  });

  it('gives Open WebUI and the soakp connection step the same JWT secret, and Open WebUI the soakp URL', () => {
    const env = owui.environment as Env;
    expect(env.ENABLE_FORWARD_USER_INFO_HEADERS).toBe('true');
    const variable = (value: string | undefined) => /^\$\{(\w+)[:?}-]/.exec(value ?? '')?.[1];
    expect(variable(env.FORWARD_USER_INFO_HEADER_JWT_SECRET)).toBe('OWUI_JWT_SECRET');
    expect(variable(connect.environment?.OWUI_JWT_SECRET)).toBe('OWUI_JWT_SECRET');
    expect(connect.entrypoint?.join(' ')).toContain('soakp openwebui connect --jwt-secret-stdin');
    expect(connect.profiles).toEqual(['setup']);
    expect(env.OPENAI_API_BASE_URL).toBe('http://soakp:3000/v1');
    expect(variable(env.OPENAI_API_KEY)).toBe('SOAKP_CONNECTION_KEY');
  });

  it('holds no secret literal: secrets are ${VARIABLES} from .env or files under /run/secrets', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (!SECRET_NAME.test(key) || key === 'OPENAI_API_BASE_URL') continue;
        expect(`${name}.${key}=${value}`).toMatch(/=(\$\{\w+[:?}-]|\/run\/secrets\/|redis:\/\/redis:6379$|https:\/\/)/);
      }
    }
    for (const pattern of LITERAL_SECRET) expect(text).not.toMatch(pattern);
  });
});

describe('deploy/kubernetes/soakp.yaml', () => {
  const docs = parseAllDocuments(read('deploy/kubernetes/soakp.yaml')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; [k: string]: unknown });
  const byKind = (kind: string) => docs.find((d) => d.kind === kind) as Record<string, any>;
  const deployment = byKind('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('has a Deployment, a Service and a Secret', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual(['Deployment', 'Secret', 'Service']);
    expect(byKind('Service').spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it('probes readiness on /readyz and liveness on /healthz, on the port soakp listens on', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.ports).toEqual([{ name: 'http', containerPort: 3000 }]);
    expect(byKind('Service').spec.ports[0].targetPort).toBe('http');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(10);
  });

  it('runs as a non-root user with no privileges to gain', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });

  it('reads the master key and the connection URLs from the Secret it defines', () => {
    const secret = byKind('Secret');
    const volume = pod.volumes.find((v: { secret?: unknown }) => v.secret);
    expect(volume.secret.secretName).toBe(secret.metadata.name);
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === volume.name);
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value])) as Env;
    expectKnownSettings(env);
    for (const [name, key] of [['SOAKP_DATABASE_URL_FILE', 'database-url'], ['SOAKP_REDIS_URL_FILE', 'redis-url']] as const) expect(env[name]).toBe(`${mount.mountPath}/${key}`);
    // Not as a file: the volume's files are group-readable, and soakp refuses such a master-key file.
    const master = container.env.find((e: { name: string }) => e.name === 'SOAKP_MASTER_KEY');
    expect(master.valueFrom.secretKeyRef).toEqual({ name: secret.metadata.name, key: 'master-key' });
    expect(env.SOAKP_MASTER_KEY_FILE).toBeUndefined();
    for (const key of ['master-key', 'database-url', 'redis-url']) expect(secret.stringData[key]).toMatch(/^<.*>$/); // placeholders, never values
  });
});

describe('deploy/systemd/soakp.service', () => {
  const unit = new Map<string, string[]>();
  for (const line of read('deploy/systemd/soakp.service').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) unit.set(m[1] as string, [...(unit.get(m[1] as string) ?? []), m[2] as string]);
  }
  const one = (key: string) => unit.get(key)?.at(-1);

  it('runs soakp serve as its own unprivileged user, with the master key as a credential', () => {
    expect(one('ExecStart')).toMatch(/\/soakp serve$/);
    expect(one('User')).toBe('soakp');
    expect(one('LoadCredential')).toBe('master-key:/etc/soakp/master-key');
    const env = Object.fromEntries((unit.get('Environment') ?? []).map((e) => e.split('=', 2) as [string, string]));
    expect(env.SOAKP_MASTER_KEY_FILE).toBe('%d/master-key');
    expectKnownSettings(env);
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(10);
  });

  it('turns on the hardening options', () => {
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes', RestrictNamespaces: 'yes', CapabilityBoundingSet: '', UMask: '0077' })) {
      expect(`${key}=${one(key)}`).toBe(`${key}=${value}`);
    }
    expect(unit.has('MemoryDenyWriteExecute')).toBe(false); // V8's JIT would crash under it
  });
});
