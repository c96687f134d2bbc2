# token-usage-server: the HTTP service, dashboard and probes.
#
#   docker build -t token-usage-server .
#   docker run --rm -p 127.0.0.1:8080:8080 -e REDIS_URL=redis://redis:6379 \
#     -e TOKEN_USAGE_API_KEYS=app:record:... token-usage-server
#
# NODE_IMAGE is any Node 22+ image with npm and /bin/sh. Where nothing can be pulled (CI), build a
# local one from an official node binary: NODE_BINARY=... scripts/node-image.sh, then
#   docker build --network host --build-arg NODE_IMAGE=token-usage-node:local .
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts are needed to compile; devDependencies are dropped after the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc directly rather than `npm run build` (which cleans with rm): the base image needs no coreutils.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# Node is not built to run as PID 1 (signals, zombies): tini is. The local base image ships it; the
# official images do not, so it comes from Debian there.
RUN if ! command -v tini >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*; \
    fi
ENV NODE_ENV=production \
    TOKEN_USAGE_HOST=0.0.0.0 \
    TOKEN_USAGE_PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY dashboard ./dashboard
USER node
EXPOSE 8080
# Liveness only: a Redis outage must not make the container "unhealthy" (readiness is /readyz).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.TOKEN_USAGE_PORT || 8080) + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--"]
CMD ["node", "dist/service/main.js"]
