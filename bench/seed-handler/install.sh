#!/usr/bin/env bash
# Idempotent installer for the seed-handler benchmark baseline.
# This machine reaches the npm registry but not GitHub or nodejs.org, so:
#  - better-sqlite3's prebuilt-binary download (prebuild-install, from GitHub) is skipped
#    with build_from_source=true, going straight to node-gyp;
#  - node-gyp uses the Node headers that the nodejs package installs in /usr/include/node (nodedir=/usr) instead of
#    downloading a headers tarball from nodejs.org.
# Needs: node 20 + npm, g++, make, python3.
set -euo pipefail
cd "$(dirname "$0")"

probe() {
  node -e "const D=require('better-sqlite3'); const db=new D(':memory:'); db.prepare('select 1').get(); require('express');" 2>/dev/null
}

if [ -d node_modules ] && probe; then
  echo "seed-handler: node_modules present and better-sqlite3 loads; nothing to do"
  exit 0
fi

for tool in node npm g++ make python3; do
  command -v "$tool" >/dev/null || { echo "seed-handler: missing $tool" >&2; exit 1; }
done
if [ ! -f /usr/include/node/node_version.h ]; then
  echo "seed-handler: Node headers not found in /usr/include/node (they ship with the nodejs package here)" >&2
  exit 1
fi

export npm_config_nodedir=/usr
export npm_config_build_from_source=true
export JOBS="${JOBS:-2}"   # node-gyp make parallelism
npm ci --no-audit --no-fund

probe || { echo "seed-handler: better-sqlite3 still does not load after npm ci" >&2; exit 1; }
echo "seed-handler: installed"
