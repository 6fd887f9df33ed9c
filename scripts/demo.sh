#!/usr/bin/env bash
# The README demo: a warehouse from sample_data/ (a month of gateway logs with some bad lines
# and duplicates), ingested, rolled up into priced usage tables, and January charged back to
# finance as a CSV with its manifest, reconciled with the providers' bills and trued up to them,
# and the budgets checked. Safe to run again: init changes nothing, ingest skips
# files it has seen, and the chargeback is the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
warehouse=${1:-demo-warehouse}
# shellcheck disable=SC2086 # flags, split on purpose (e.g. "--features ballista")
cargo build --quiet ${TOKENLEDGER_CARGO_FLAGS:-}
bin="${CARGO_TARGET_DIR:-target}/debug/tokenledger"

"$bin" -w "$warehouse" init
# the sample's price book, principals, budgets and capacity instead of the commented examples
cp sample_data/config/*.csv "$warehouse/config/"
"$bin" -w "$warehouse" ingest sample_data/logs
"$bin" -w "$warehouse" rollup
# the two provisioned pools against what their traffic would cost pay-per-token
"$bin" -w "$warehouse" report provisioned_break_even
"$bin" -w "$warehouse" chargeback --period 2025-01 --by cost_center,group --output "$warehouse/chargeback-2025-01.csv"
# the bills of January (made from the same requests, with planted faults: a price the book has
# wrong, a day of usage that bypassed the gateway, and a provisioned endpoint billed for six
# hours of scale-out): OpenAI's and Anthropic's, and Databricks' system.billing.usage (DBUs,
# priced by the list prices beside it) and external_model_spend; set beside the ledger,
# reconcile exits 7 when a row is not ok. Then January charged back at the invoice, the
# provisioned pools at their billed hours.
"$bin" -w "$warehouse" bill import --list-prices sample_data/bills/databricks_list_prices_2025-01.csv sample_data/bills/*
"$bin" -w "$warehouse" reconcile --period 2025-01 || test $? -eq 7
"$bin" -w "$warehouse" chargeback --period 2025-01 --by cost_center,group --true-up --capacity-from-bill \
  --output "$warehouse/chargeback-2025-01-invoice.csv"
# January booked: from here on its export is these bytes. A January request re-delivered late
# then moves January, and February (the first open month) carries it as an adjustment line.
"$bin" -w "$warehouse" close --period 2025-01 --by cost_center,group --true-up --capacity-from-bill
"$bin" -w "$warehouse" ingest sample_data/late
"$bin" -w "$warehouse" rollup
"$bin" -w "$warehouse" chargeback --period 2025-02 --by cost_center,group
"$bin" -w "$warehouse" restatements --period 2025-01
# exit code 3 says a budget is spent: one group has overrun its January budget, one is past its
# 80% warning, and the cost centers' quarterly budgets show where Q1 is heading
"$bin" -w "$warehouse" budget status || test $? -eq 3
