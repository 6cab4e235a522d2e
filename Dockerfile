# Wharf's container image: built in one stage, run in a small one as uid 1000.
#
#   docker build -t wharf --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# The build needs only the npm registry and Debian's mirror: better-sqlite3 is compiled from source
# (never a prebuilt binary from GitHub) against the headers of the image's own Node (never
# downloaded from nodejs.org). Behind a TLS-intercepting proxy, give its CA bundle as a build
# secret; it is used by the npm step only and never stored in a layer:
#
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/path/to/corporate-ca.pem -t wharf .
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# nodedir: node-gyp takes the headers of this Node (/usr/local/include/node); build_from_source:
# prebuild-install gives up at once instead of asking GitHub.
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
 && npm ci
COPY tsconfig.json ./
COPY src ./src
# Only what runs: compiled sources, production dependencies, better-sqlite3's addon without its
# SQLite sources and build leftovers.
RUN ./node_modules/.bin/tsc -p tsconfig.json \
 && npm prune --omit=dev \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src binding.gyp \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/ \
 && cd /app \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('SELECT 1').get()" \
 && npm cache clean --force

FROM ${NODE_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/wharf-registry/wharf
LABEL org.opencontainers.image.title="Wharf" \
      org.opencontainers.image.description="An OCI container registry" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
# The configuration lives at /etc/wharf/config.yaml (mount your own over it); WHARF_* variables
# override it, options after the image name override both.
ENV NODE_ENV=production \
    WHARF_CONFIG=/etc/wharf/config.yaml
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json config.example.yaml ./
COPY container/config.yaml /etc/wharf/config.yaml
COPY container/healthcheck.cjs ./healthcheck.cjs
COPY container/wharf /usr/local/bin/wharf
RUN mkdir -p /var/lib/wharf && chown 1000:1000 /var/lib/wharf
USER 1000:1000
VOLUME /var/lib/wharf
EXPOSE 5000
# healthcheck.cjs reads the server's configuration through dist/src/config (HTTP or HTTPS, the port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["node", "/app/healthcheck.cjs"]
ENTRYPOINT ["node", "/app/dist/src/cli/index.js"]
CMD ["serve"]
