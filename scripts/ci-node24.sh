#!/usr/bin/env bash
# CI: the whole test suite again under Node.js 24, beside the machine's own Node.
#
# Node 24 comes from the npm registry's node-linux-<arch>@24 package (its bin/node is the
# binary, include/node the headers node-gyp needs: it cannot download them here). The suite
# runs in a separate copy of this checkout, so installing there (better-sqlite3-multiple-ciphers
# built from source for Node 24's ABI) never touches this tree's node_modules or dist.
# The environment is the caller's (.ci/run exports SOAKP_TEST_REQUIRE_SERVICES and CI).
#
#   bash scripts/ci-node24.sh
#
# SOAKP_NODE24_KEEP=1 keeps the temporary directory (printed at the start) for a look after.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAKP_TEST_REQUIRE_SERVICES="${SOAKP_TEST_REQUIRE_SERVICES:-1}"
started=$SECONDS

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "ci-node24: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/soakp-node24.XXXXXX")"
if [ "${SOAKP_NODE24_KEEP:-}" = 1 ]; then
  echo "ci-node24: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi

# Node 24: the registry's tarball (npm's cache keeps it for the next run), unpacked.
echo "ci-node24: fetching node-linux-$arch@24"
tarball="$(cd "$work" && npm pack --silent "node-linux-$arch@24")"
mkdir "$work/node"
tar -xzf "$work/$tarball" -C "$work/node"
nodedir="$work/node/package"
[ -x "$nodedir/bin/node" ] && [ -f "$nodedir/include/node/node.h" ] || { echo "ci-node24: $tarball has no bin/node or include/node" >&2; exit 1; }

# The checkout as it is on disk (tracked and new files, not ignored ones such as
# node_modules, dist or data), into a directory of its own; shared/ beside it, as beside
# this checkout (the conformance test reads ../shared/openai-openapi.yaml).
mkdir "$work/soakp"
git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read -c -f - |
  tar -x -f - -C "$work/soakp"
if [ -d ../shared ]; then ln -s "$(cd ../shared && pwd)" "$work/shared"; fi
# prebuild-install (better-sqlite3-multiple-ciphers' install script) finds this file above its
# package directory and builds from source instead of trying to download a prebuilt binary
# from GitHub (unreachable here); the script then runs node-gyp.
echo 'buildFromSource=true' > "$work/.prebuild-installrc"

cd "$work/soakp"
export PATH="$nodedir/bin:$PATH"
# node-gyp builds against the unpacked headers.
export npm_config_nodedir="$nodedir"

version="$(node --version)"
case "$version" in
  v24.*) ;;
  *) echo "ci-node24: node on PATH is $version, not v24" >&2; exit 1 ;;
esac
echo "ci-node24: node $version ($(command -v node)), npm $(npm --version), in $PWD"

npm ci
# The native module is the one built for this Node: loading it proves the ABI matches.
node -e "new (require('better-sqlite3-multiple-ciphers'))(':memory:').close()"
# What npm's scripts (and so vitest and every process the tests start) run on.
inner="$(npm exec --offline -c 'node --version')"
[ "$inner" = "$version" ] || { echo "ci-node24: npm's scripts run node $inner, not $version" >&2; exit 1; }
npm test

echo "ci-node24: the suite passed under node $version in $((SECONDS - started)) s"
