# syntax=docker/dockerfile:1
# One image for every Switchyard service: `docker run IMAGE <grpc-proxy|invocation|api|worker|geodns>`
# runs `switchyard serve <service>` (docs/cli.md). TypeScript runs from src/ through Node 24's type
# stripping, so there is no build step: the image is the sources plus production dependencies.
#
# BASE_IMAGE must provide Node 24 and npm (node:24-slim where a registry is reachable;
# scripts/build-image.sh --local-base makes one offline). See docs/deploy.md, "The image".
ARG BASE_IMAGE=node:24-slim

# --- dependencies: npm ci --omit=dev (no devDependencies: no TypeScript, no bundled Node) -----------
FROM ${BASE_IMAGE} AS deps
WORKDIR /opt/switchyard
ENV NODE_ENV=production
COPY . .
# An optional CA bundle for a registry behind a TLS-inspecting proxy, passed as a build secret
# (scripts/build-image.sh: NPM_CA_FILE=...); never stored in a layer.
RUN --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
 && npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && node services/cli/bin/switchyard.js --version

# --- runtime ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to the service (which drains) and reaps children.
RUN if ! command -v tini >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid 10001 switchyard \
 && useradd --system --uid 10001 --gid switchyard --home-dir /opt/switchyard --shell /usr/sbin/nologin switchyard
WORKDIR /opt/switchyard
# Owned by root and read-only to the service user; the services write nothing to disk.
COPY --from=deps /opt/switchyard /opt/switchyard
# NODE_OPTIONS: the Node options every service may need (docs/configuration.md, "Node options"); with
# them present `switchyard serve` runs the service in its own process, no child. Metrics port on 9464,
# all interfaces (published with -p), unless set otherwise (the HEALTHCHECK reads it).
ENV NODE_ENV=production \
    NODE_OPTIONS=--expose-gc \
    SWITCHYARD_METRICS_PORT=9464 \
    SWITCHYARD_METRICS_HOST=0.0.0.0 \
    PATH=/opt/switchyard/node_modules/.bin:$PATH
USER 10001:10001
# grpc-proxy 10081 (+10086 callback), invocation 8080 (+10087), api 8088, geodns 5353 udp/tcp, metrics 9464
EXPOSE 10081 10086 8080 10087 8088 5353/udp 5353/tcp 9464
# Every service answers GET /healthz on its metrics port while the process runs (docs/observability.md).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SWITCHYARD_METRICS_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "switchyard", "serve"]
CMD ["--help"]
