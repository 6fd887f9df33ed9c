#!/usr/bin/env bash
# The README demo: a warehouse from sample_data/ (a month of gateway logs with some bad lines
# and duplicates), ingested and rolled up into priced usage tables. Safe to run again: init changes nothing, ingest skips files it has seen.
set -euo pipefail
cd "$(dirname "$0")/.."
warehouse=${1:-demo-warehouse}
cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/tokenledger"

"$bin" -w "$warehouse" init
# the sample's price book, principals, budgets and capacity instead of the commented examples
cp sample_data/config/*.csv "$warehouse/config/"
"$bin" -w "$warehouse" ingest sample_data/logs
"$bin" -w "$warehouse" rollup
