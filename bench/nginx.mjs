// Debian's nginx as a reference proxy: one worker, keep-alive to the upstream, no buffering
// either way, the upstream key set on every request, an access log like soakp's request log.
// Skipped (with a note) when nginx is not installed: `apt-get install -y nginx-light` (or nginx).
// With `tls` ({ cert, key, ca }), HTTPS on the port instead, as bench/tls-setup.mjs pins it.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnPinned } from './proc.mjs';
import { track } from './children.mjs';
import { NGINX_TLS_DIRECTIVES, httpsStatus } from './tls-setup.mjs';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

export function nginxConf({ dir, port, upstreamPort, key, tls }) {
  const temp = (name) => join(dir, name);
  // Run as root (as here), nginx would drop its worker to "nobody"; keep the same user instead.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes 1;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log ${temp('access.log')};
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_max_body_size 512m;
  upstream fake {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl' : ''};
${tls ? [`ssl_certificate ${tls.cert};`, `ssl_certificate_key ${tls.key};`, ...NGINX_TLS_DIRECTIVES].map((d) => `    ${d}\n`).join('') : ''}    location / {
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${key}";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`;
}

/** Starts nginx pinned to `cpu`; resolves with { child, port } once it answers, or null when nginx is absent. */
export async function startNginx({ dir, port, upstreamPort, key, cpu, tls }) {
  if (!NGINX) return null;
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf({ dir, port, upstreamPort, key, tls }));
  const child = track(spawnPinned(cpu, NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
    try {
      if (tls) await httpsStatus(`https://127.0.0.1:${port}/nginx-probe`, tls.ca);
      else await (await fetch(`http://127.0.0.1:${port}/nginx-probe`)).arrayBuffer();
      return { child, port, pid: child.pid };
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`nginx did not answer on port ${port}: ${stderr}`);
}

export async function nginxVersion() {
  if (!NGINX) return null;
  const child = track(spawnPinned(undefined, NGINX, ['-v'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let out = '';
  child.stderr.on('data', (d) => (out += d));
  await new Promise((resolve) => child.once('exit', resolve));
  return out.trim().replace(/^nginx version:\s*/, '');
}
