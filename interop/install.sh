#!/usr/bin/env bash
# Installs the independent WebSocket clients the interop tests drive (see src/lib.rs):
# Python's websockets into a virtual environment at interop/.venv, and Node's ws into
# interop/node/node_modules, both at the versions pinned in this folder.
#
#   interop/install.sh          # from any folder; quiet, and quick when already done
#   cargo test -p interop
#
# .ci/run calls it before the tests. Each step is skipped when its result is already
# there at the pinned version, so running it twice costs a second.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

# Python: a venv of our own, so the system's Python stays untouched and the pinned version
# is the one imported. Reinstalled only when requirements.txt changed since the last run.
if ! command -v python3 >/dev/null; then
    echo "interop/install.sh: python3 is missing (apt-get install python3 python3-venv)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! cmp -s python/requirements.txt .venv/installed-requirements.txt; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        --requirement python/requirements.txt
    cp python/requirements.txt .venv/installed-requirements.txt
fi
.venv/bin/python -c 'import websockets; print("python websockets", websockets.__version__)'

# Node: exactly what package-lock.json says (npm ci refuses a lockfile that disagrees with
# package.json). Skipped when node_modules already matches the lockfile.
if ! command -v npm >/dev/null; then
    echo "interop/install.sh: npm is missing (apt-get install nodejs npm)" >&2
    exit 1
fi
if ! cmp -s node/package-lock.json node/node_modules/.package-lock-installed.json; then
    (cd node && npm ci --silent --no-audit --no-fund)
    cp node/package-lock.json node/node_modules/.package-lock-installed.json
fi
(cd node && node -e 'console.log("node ws", require("ws/package.json").version)')
