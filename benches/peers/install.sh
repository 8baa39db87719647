#!/usr/bin/env bash
# Installs the Node peers the comparison harness measures ours against (see
# benches/src/peers.rs): Node's ws and Socket.IO, into benches/peers/node_modules, at exactly
# the versions package-lock.json pins.
#
#   benches/peers/install.sh    # from any folder; quiet, and quick when already done
#   cargo test -p bench --test peers
#
# .ci/run calls it before the tests. npm ci is skipped when node_modules already matches the
# lockfile, so running it twice costs a second.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "benches/peers/install.sh: node or npm is missing (apt-get install nodejs npm)" >&2
    exit 1
fi
# npm ci installs what package-lock.json says and refuses a lockfile that disagrees with
# package.json. The copy of the lockfile it leaves behind says what node_modules holds.
if ! cmp -s package-lock.json node_modules/.package-lock-installed.json; then
    npm ci --silent --no-audit --no-fund
    cp package-lock.json node_modules/.package-lock-installed.json
fi
node -e 'console.log("node", process.version, "ws", require("ws/package.json").version,
    "socket.io", require("socket.io/package.json").version)'
