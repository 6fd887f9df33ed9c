#!/usr/bin/env bash
# The test suite: cargo test --features ballista, with moto's S3 server (a local stand-in for S3, from PyPI) so the
# object-store tests run too. moto is installed once into a virtualenv outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
moto_env=${TOKENLEDGER_MOTO_ENV:-$HOME/.cache/tokenledger-moto}
if [ ! -x "$moto_env/bin/moto_server" ]; then
    echo "installing moto[server] into $moto_env (once)" >&2
    rm -rf "$moto_env"
    python3 -m venv "$moto_env"
    "$moto_env/bin/pip" install --quiet "moto[server]==5.2.5"
fi
export TOKENLEDGER_MOTO_SERVER="$moto_env/bin/moto_server"
# the ballista feature too: its tests start a scheduler and two executors on loopback
cargo test --locked --features ballista "$@"
