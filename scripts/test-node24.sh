#!/usr/bin/env bash
# Runs the whole suite (`npm test`) on Node 24 in this checkout: what .ci/run does after the run on
# the machine's Node. Needs an installed checkout (npm ci). Node 24 comes from the npm registry
# (scripts/node-dist.sh, cached outside the repo); better-sqlite3 is compiled for it for the run
# (about a minute), and the build it had before is put back afterwards, so `npm start` and
# `npm test` on the machine's Node work again as soon as this ends, failed or not.
#   scripts/test-node24.sh              # the newest 24.x
#   scripts/test-node24.sh 24.21.0      # a given one
# While it runs, this checkout's better-sqlite3 is Node 24's: do not run its tests on another Node meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

node24="$(bash scripts/node-dist.sh "${1:-24}")"
node24_dir="$(dirname "$(dirname "$node24")")"
addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
[ -f "$addon" ] || {
  echo "scripts/test-node24.sh: $addon is missing: run npm ci first" >&2
  exit 1
}

saved="$(mktemp -d)"
cp "$addon" "$saved/"
machine_path="$PATH"
restore() {
  # node-gyp rebuild replaced build/ as a whole; the machine Node's addon goes back where it was.
  mkdir -p "$(dirname "$addon")"
  cp "$saved/better_sqlite3.node" "$addon"
  rm -rf "$saved"
  PATH="$machine_path" node -e "require('better-sqlite3')(':memory:').close()" ||
    echo "scripts/test-node24.sh: better-sqlite3 does not load on $(PATH="$machine_path" node -v) any more: run npm rebuild better-sqlite3" >&2
}
trap restore EXIT

export PATH="$(dirname "$node24"):$PATH"
echo "== Node $(node -v) ($node24)"
# node-gyp compiles against these headers (it cannot download any here); the variable beats any nodedir in ~/.npmrc.
npm_config_nodedir="$node24_dir" npm rebuild better-sqlite3
node -e "require('better-sqlite3')(':memory:').close()"
npm run build
npm test
