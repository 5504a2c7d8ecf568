# syntax=docker/dockerfile:1
# agent-api: build with `docker build -t agent-api .`, run with
#   docker run -p 8000:8000 -e VALID_API_KEYS=… -e LLM_BASE_URL=… -e LLM_MODEL=… -v agent-data:/app/data agent-api
# test/deploy-build.test.ts replays this file's build and runtime steps without a container engine.

FROM node:24-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary matches this Node (node-gyp needs these).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. Scripts are off here because
# `prepare` would build before the sources are copied; the native and binary packages are built next.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 esbuild
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim AS runtime
ENV HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app
# package.json is needed at run time: it makes dist/ ES modules and holds the version /health reports.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The default DATABASE_URL (sqlite:./data/agent-api.db) resolves to /app/data: the only place the
# service writes, owned by the unprivileged user and kept in a volume.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 8000
# /ready, not /health: a container whose database or model is missing is not ready to serve.
# The slim image has no curl; node's fetch does the check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself is PID 1 and gets SIGTERM (npm start would not forward it reliably); it handles
# SIGTERM and SIGINT with a graceful shutdown of SHUTDOWN_GRACE_MS.
CMD ["node", "dist/main.js"]
