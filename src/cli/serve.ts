import type { Command } from 'commander';
import { type Overrides, TLS_FLAGS } from '../config/index.js';
import { openRuntime, servingServices } from '../main.js';
import { globalsOf, overridesOf } from './context.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the proxy (what `npm start` runs)')
    .option('--host <host>', 'listen host (default 127.0.0.1)')
    .option('--port <port>', 'listen port (default 3000)')
    .option('--upstream <url>', 'default upstream base URL (default https://api.openai.com/v1)')
    .option('--shutdown-grace <duration>', 'on SIGTERM, how long requests in flight may take to finish (default 10s)')
    .option('--cors-origins <list>', 'web origins whose pages may call /v1, comma-separated (https://app.example.com,https://*.example.com)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); reloaded when it changes')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--tls <mode>', 'serve HTTPS with a certificate from: local (a local CA in the data dir) or acme')
    .option('--tls-name <name>', 'a name for the local certificate (repeatable; default localhost, 127.0.0.1, ::1, the host name)', (name: string, names: string[] = []) => [...names, name])
    .option('--http-port <port>', 'with TLS on: a plain-HTTP port answering ACME HTTP-01 challenges and redirecting to HTTPS')
    .option('--acme-domain <name>', 'with --tls acme: a name for the certificate (repeatable; *.example.com needs dns-01)', (name: string, names: string[] = []) => [...names, name])
    .option('--acme-email <email>', 'the ACME account contact address')
    .option('--acme-directory <url>', "the ACME directory URL (default Let's Encrypt production)")
    .option('--acme-staging', "use Let's Encrypt's staging directory")
    .option('--acme-ca-file <pem>', 'trust this CA for a private ACME server (Pebble, step-ca)')
    .option('--acme-challenge <type>', 'http-01 (default; needs --http-port) or dns-01')
    .option('--acme-dns <provider>', 'dns-01 provider: exec, cloudflare, route53 or digitalocean')
    .option('--acme-dns-exec <path>', "the exec provider's program (called as PATH present|cleanup FQDN VALUE)")
    .option('--acme-eab-kid <kid>', 'External Account Binding key id (the HMAC key from SOAKP_ACME_EAB_HMAC_KEY)')
    .action(async (opts: Overrides, cmd: Command) => {
      const { host, port, upstream, logLevel, httpPort, corsOrigins, shutdownGrace } = opts;
      const tlsFlags = Object.fromEntries(TLS_FLAGS.map((k) => [k, opts[k]]));
      // Loaded here, not at the top: the other commands need neither Fastify nor undici.
      const { startServer } = await import('../http/index.js');
      const rt = await openRuntime({ flags: { ...overridesOf(globalsOf(cmd)), host, port, upstream, logLevel, httpPort, corsOrigins, shutdownGrace, ...tlsFlags } });
      const services = await servingServices(rt).catch(async (err: unknown) => {
        await rt.close();
        throw err;
      });
      const server = await startServer(services, rt.config).catch(async (err: unknown) => {
        await services.close();
        await rt.close();
        throw err;
      });
      rt.logger.info({ url: server.url, ...(server.httpUrl === undefined ? {} : { httpUrl: server.httpUrl }), dataDir: rt.config.dataDir }, 'soakp is listening');
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          rt.logger.info({ signal }, 'shutting down: finishing in-flight requests');
          // In-flight requests finish, the ledger and audit log flush, then the database closes cleanly (WAL checkpointed).
          void server.close().then(() => services.close()).then(() => rt.close()).catch((err: unknown) => rt.logger.error({ err }, 'shutting down failed')).finally(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      rt.logger.flush();
      // Shut down cleanly; work that cannot be cancelled (an ACME order retrying a CA that does
      // not answer) must not hold the process: it is abandoned, and the next start orders again.
      setTimeout(() => process.exit(), 1_000).unref();
    });
}
