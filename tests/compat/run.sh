#!/usr/bin/env bash
# Runs the Lambent compatibility suite: boto3 and the AWS CLI against a real `lambent serve`.
#
#   tests/compat/run.sh [pytest args...]
#
# Creates (or refreshes, when requirements.txt changed) a venv at <repo>/.venv-compat with the
# pinned clients, builds `cargo build -p lambent` unless LAMBENT_BIN names a binary, then runs
# `pytest -q tests/compat`. Needs only PyPI; works as root with no terminal.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${LAMBENT_COMPAT_VENV:-$root/.venv-compat}"
req="$here/requirements.txt"
python="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_ROOT_USER_ACTION=ignore
export PIP_NO_INPUT=1

stamp_file="$venv/.requirements.sha256"
want_stamp="$( { cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
have_stamp="$(cat "$stamp_file" 2>/dev/null || true)"
if [ ! -x "$venv/bin/python" ] || [ "$have_stamp" != "$want_stamp" ]; then
    echo "compat: setting up $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q -r "$req"
    echo "$want_stamp" > "$stamp_file"
fi

if [ -z "${LAMBENT_BIN:-}" ]; then
    echo "compat: cargo build -p lambent" >&2
    (cd "$root" && cargo build -p lambent)
    LAMBENT_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/lambent"
fi
export LAMBENT_BIN
[ -x "$LAMBENT_BIN" ] || { echo "compat: no executable at LAMBENT_BIN=$LAMBENT_BIN" >&2; exit 2; }

cd "$root"
exec "$venv/bin/python" -m pytest -q tests/compat "$@"
