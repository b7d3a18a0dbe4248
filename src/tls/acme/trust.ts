import { Agent } from 'node:https';
import acme from 'acme-client';

/**
 * The CA to trust per ACME server origin, for a private ACME server (Pebble, step-ca) whose
 * directory is served with its own certificate. acme-client 5 sends every request through its
 * one exported axios instance and takes no agent per client, so one request interceptor on that
 * instance picks the agent by the request's origin: clients of other servers are not touched.
 */
const agents = new Map<string, Agent>();
let installed = false;

export function trustCaFor(directoryUrl: string, caPem: string): void {
  agents.set(new URL(directoryUrl).origin, new Agent({ ca: caPem, keepAlive: false }));
  if (installed) return;
  installed = true;
  acme.axios.interceptors.request.use((config) => {
    const url = config.url === undefined ? undefined : new URL(config.url, config.baseURL);
    const agent = url === undefined ? undefined : agents.get(url.origin);
    if (agent !== undefined) config.httpsAgent = agent;
    return config;
  });
}
