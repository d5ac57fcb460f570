# syntax=docker/dockerfile:1
# The token handler on Node as a container image (README: "Deploy as a container").
#
#   docker build -t edge-token-handler .
#   docker run --rm -p 8080:8080 --read-only --cap-drop ALL --security-opt no-new-privileges \
#     --env-file th.env edge-token-handler
#
# Two stages: the build (every dependency, tsc, npm pack) and the runtime (the packed package,
# production dependencies from the lock file, node started directly). test/ship/package.test.ts
# runs the same steps, since the development machines have no container engine.

# Node 20 (which the project still supports) reached its end of life in April 2026; the
# Lambda@Edge bundle runs on 22 as well. Pin a digest in your own registry for repeatable builds.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts scripts/build.ts
COPY src/ src/
# The package exactly as npm would publish it (package.json "files"), unpacked as /app, then its
# production dependencies only, at the versions the lock file pins.
RUN npm run build \
 && npm pack --ignore-scripts --pack-destination /tmp \
 && mkdir /app \
 && tar -xzf /tmp/edge-token-handler-*.tgz -C /app --strip-components=1 \
 && cp package-lock.json /app/ \
 && cd /app \
 && npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${NODE_IMAGE}
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 SHUTDOWN_GRACE=20
WORKDIR /app
# Owned by root, so the process cannot change its own code; it writes nothing at all, so a
# read-only root file system needs no writable volume.
COPY --from=build /app ./
# The image's own `node` user, by number, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
# No HEALTHCHECK: Kubernetes ignores it and probes {agent}/health and {agent}/ready itself
# (deploy/kubernetes), and the slim image has no curl. With plain Docker, add
#   --health-cmd 'node -e "fetch(\"http://127.0.0.1:8080/oauth-agent/ready\").then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"'
# node runs as PID 1 itself (not through npm, which would swallow SIGTERM): it handles SIGTERM and
# SIGINT (drain, then exit) and starts no child processes to reap.
CMD ["node", "dist/node/server.js"]
