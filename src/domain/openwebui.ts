/** Settings of one Open WebUI connection key (kept in the token's options; the JWT secret is sealed apart). */
export interface OpenWebUIOptions {
  /** Accept `X-OpenWebUI-User-Email` (only alongside this key) when no signed JWT is sent. */
  trustEmailHeader: boolean;
  /** Whether a JWT secret is stored for this connection. */
  jwt: boolean;
  /** Whose key answers Open WebUI's own model listings, which carry no user. */
  modelsUser?: string;
  upstream?: string;
}

/** Where a connection's JWT secret is kept among the proxy's sealed secrets. */
export const openWebUISecretId = (tokenId: string): string => `openwebui-jwt:${tokenId}`;
