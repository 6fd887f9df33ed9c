#!/usr/bin/env python3
"""Chargeback check: tokenledger's monthly chargeback by group and cost center next to the
DuckDB anchor's chargeback.csv on the same data.

usage: python3 benches/chargeback.py DATA_DIR [--bin PATH]

Needs the warehouse that benches/ingest.py and benches/rollup.py leave in
DATA_DIR/out_tokenledger, and the anchor's hourly.parquet (its rollup step). Every month's
*TOTAL* must equal the anchor's to the cent; a group line may differ by one cent (largest
remainder moves cents so that the lines add up to the total; the anchor rounds each line on
its own). Exits non-zero otherwise.
"""
import csv, os, subprocess, sys
from decimal import Decimal

from ingest import ANCHOR, arguments, measure


def main():
    a = arguments(__doc__).parse_args()
    wh = os.path.join(a.data, "out_tokenledger")
    subprocess.run([sys.executable, ANCHOR, a.data, "--steps", "chargeback"], check=True, stdout=subprocess.DEVNULL)
    anchor = {}
    for r in csv.DictReader(open(os.path.join(a.data, "out_duckdb", "chargeback.csv"))):
        anchor[(r["month"], r["group"], r["cost_center"])] = (Decimal(r["cost_usd"]), int(r["requests"]))
    ok, lines, moved = True, 0, 0
    print(f"{'month':<8} {'tokenledger total':>18} {'duckdb total':>14} {'lines':>6} {'off by a cent':>14} {'seconds':>8}")
    for month in sorted({k[0] for k in anchor}):
        out = os.path.join(a.data, f"chargeback-{month}.csv")
        seconds, _, _, _, _ = measure([a.bin, "-q", "-w", wh, "chargeback", "--period", month,
                                       "--by", "group,cost_center", "--output", out])
        ours = {(month, r["group"], r["cost_center"]): (Decimal(r["cost"]), int(r["requests"]))
                for r in csv.DictReader(open(out)) if r["currency"] == "USD"}
        theirs = {k: v for k, v in anchor.items() if k[0] == month}
        if set(ours) != set(theirs):
            print(f"{month}: different lines: {sorted(set(ours) ^ set(theirs))[:5]}")
            ok = False
            continue
        total = (month, "*TOTAL*", "*TOTAL*")
        off = [k for k in theirs if ours[k][0] != theirs[k][0]]
        ok &= ours[total] == theirs[total]
        ok &= all(abs(ours[k][0] - theirs[k][0]) <= Decimal("0.01") and ours[k][1] == theirs[k][1] for k in theirs)
        lines += len(theirs)
        moved += len(off)
        print(f"{month:<8} {ours[total][0]:>18} {theirs[total][0]:>14} {len(theirs):>6} {len(off):>14} {seconds:>8.2f}")
    print(f"{lines} lines, {moved} off by one cent; totals {'equal' if ok else 'DIFFERENT'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
