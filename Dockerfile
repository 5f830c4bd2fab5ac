# Latchkey image: `docker build -t latchkey .` then
#   docker run -p 3000:3000 -v latchkey-data:/data -e LATCHKEY_ISSUER=https://id.example.com latchkey
# CI performs this recipe without a Docker engine (.ci/dockerfile-check.ts): every instruction
# needs its literal entry in .ci/dockerfile/step-table.ts saying how it is performed or skipped.

FROM node:22-bookworm-slim AS build
# better-sqlite3 (and node-argon2, a dev-only dependency) are compiled from source by the postinstall
# check when their binaries do not load; @node-rs/argon2 comes prebuilt for linux-x64/arm64 (glibc).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# scripts/ holds the postinstall that `npm ci` runs.
COPY package.json package-lock.json ./
# The verifier workspace's manifest: npm ci needs every workspace the lockfile names.
COPY verifier/package.json ./verifier/
COPY scripts/ ./scripts/
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY server/ ./server/
COPY keys/ ./keys/
COPY migrations/ ./migrations/
# tsc does not set the execute bit that the `latchkey` symlink below needs.
RUN npm run build && chmod +x dist/server/cli/main.js
# Pruning keeps the native modules compiled above, for the same Node as the runtime stage. The
# verifier workspace is a library for resource services, not part of the server: its link goes.
RUN npm prune --omit=dev && rm node_modules/@latchkey/verifier

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    LATCHKEY_DATA_DIR=/data
WORKDIR /app
# Owned by root: the service user can read the code but not change it.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ ./node_modules/
COPY --from=build /app/dist/ ./dist/
# /data is created before VOLUME so a new volume starts out owned by the service user.
RUN ln -s /app/dist/server/cli/main.js /usr/local/bin/latchkey \
 && mkdir -p /data \
 && chown node:node /data
USER node
VOLUME /data
EXPOSE 3000
# The slim image has neither curl nor wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["latchkey", "serve"]
