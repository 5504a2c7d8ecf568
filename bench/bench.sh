#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --only a,c] [-- --workers N] [-- --out FILE] [-- --baseline]
set -euo pipefail
cd "$(dirname "$0")/.."
# Holding 10k open streams needs more than the usual 1024 descriptors, on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# The seed's FastAPI service runs on Debian's packages.
if ! /usr/bin/python3 -c 'import fastapi, uvicorn' 2>/dev/null; then
  echo "installing python3-fastapi and python3-uvicorn (Debian) for the seed service…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-fastapi python3-uvicorn >/dev/null
fi
npm run build --silent
exec node --import tsx bench/run.ts "$@"
