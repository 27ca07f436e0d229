#!/usr/bin/env bash
# The whole test suite: the README's test command, and exactly what CI runs (.ci/run).
#   1. the Debian test peers, only those missing (test/install-peers.sh);
#   2. npm ci, build, typecheck and jest on the machine's Node (20.19+);
#   3. the package install test (pack, global install with production
#      dependencies only, init, config check, start, stop) on its own
#      afterwards: it compiles better-sqlite3, which would slow the
#      timing-sensitive tests running beside it;
#   4. the same suite on Node 24 LTS in a separate copy with its own
#      node_modules (test/node24.sh), less the package install test.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash test/install-peers.sh
npm ci --no-audit --no-fund
npm test -- --testPathIgnorePatterns package-install
npx jest test/integration/package-install.test.ts
echo "ci: the suite on $(node --version) took $(( $(date +%s) - started )) s; next: Node 24" >&2
bash test/node24.sh
