# soakp container image (see docs/container.md).
#
#   docker build -t soakp .
#   docker run -d --name soakp -p 3000:3000 -v soakp-data:/data \
#     -e SOAKP_MASTER_KEY="$(openssl rand -base64 32)" soakp
#
# Build arguments:
#   NODE_IMAGE  the Node.js base image for every stage: a Debian-based image with node and npm in
#               /usr/local (as the official images have them) and Node's headers in
#               /usr/local/include/node. Default: the official Node 24 LTS slim image.
# Build secret (optional):
#   ca_certs    a PEM bundle of extra CA certificates npm must trust, for a registry reached
#               through a TLS-inspecting proxy: --secret id=ca_certs,src=/path/to/ca.pem
#               It is mounted only while npm runs and is in no layer.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- production dependencies, with the native SQLite module compiled when no prebuilt binary
# ---- can be downloaded (a C++ toolchain in this stage only)
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp uses the base image's own headers instead of downloading them.
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` (tsc) needs the dev dependencies; the one install
# script among the production dependencies, better-sqlite3-multiple-ciphers', runs through
# `npm rebuild` (prebuild-install, else node-gyp).
RUN --mount=type=secret,id=ca_certs \
    if [ -s /run/secrets/ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_certs; fi \
 && npm ci --omit=dev --ignore-scripts \
 && npm rebuild better-sqlite3-multiple-ciphers \
 && node -e "new (require('better-sqlite3-multiple-ciphers'))(':memory:').close()" \
 && rm -rf /root/.npm /root/.cache /tmp/*
# Trimmed in a layer of its own, so the compiled module stays cached when this changes. Of the
# native module only its binary is needed. TypeScript is an optional peer dependency of valibot
# that npm keeps because it is also a dev dependency here; nothing loads it at run time.
RUN cd node_modules/better-sqlite3-multiple-ciphers \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/ \
 && cd /app \
 && rm -rf node_modules/typescript

# ---- dist/: the TypeScript build (dev dependencies, no install scripts needed)
FROM ${NODE_IMAGE} AS build
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca_certs \
    if [ -s /run/secrets/ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_certs; fi \
 && npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- the runtime image
FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="soakp" \
      org.opencontainers.image.description="Secure OpenAI Key Proxy: a self-hosted key vault and streaming reverse proxy for OpenAI-compatible APIs" \
      org.opencontainers.image.licenses="MIT"
# A fixed non-root uid/gid, so a bind-mounted data directory can be prepared for it
# (chown 10001:10001). A named volume takes /data's ownership from the image.
RUN groupadd --gid 10001 soakp \
 && useradd --uid 10001 --gid soakp --home-dir /data --no-create-home --no-log-init --shell /usr/sbin/nologin soakp \
 && mkdir -p /data \
 && chown soakp:soakp /data \
 && chmod 0700 /data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
RUN ln -s /app/bin/soakp.js /usr/local/bin/soakp
# Inside a container soakp listens on every interface (its default outside one is 127.0.0.1).
# No secret here: give SOAKP_MASTER_KEY or SOAKP_MASTER_KEY_FILE at run time.
ENV NODE_ENV=production \
    SOAKP_DATA_DIR=/data \
    SOAKP_HOST=0.0.0.0 \
    SOAKP_PORT=3000
VOLUME /data
EXPOSE 3000
USER 10001:10001
# Plain HTTP on the container's own port; with TLS on, override it (see docs/container.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SOAKP_PORT || 3000) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# node is PID 1: `soakp serve` handles SIGTERM and SIGINT itself (in-flight requests finish,
# the database closes), so no init process is needed to stop promptly.
ENTRYPOINT ["node", "/app/bin/soakp.js"]
CMD ["serve"]
