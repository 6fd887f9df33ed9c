#!/usr/bin/env python3
"""Chargeback check: tokenledger's monthly chargeback by group and cost center next to the
DuckDB and Polars peers' chargeback.csv on the same data.

usage: python3 benches/chargeback.py DATA_DIR [--peers duckdb,polars] [--bin PATH]

Needs what benches/ingest.py and benches/rollup.py leave in DATA_DIR. Every month's *TOTAL*
must equal each peer's to the cent; a group line may differ by one cent (largest remainder
moves cents so that the lines add up to the total; a peer rounds each line on its own).
Exits non-zero otherwise.
"""
import csv, os, sys
from decimal import Decimal

import harness
from harness import arguments, measure, peers_of, run_peer


def main():
    a = arguments(__doc__).parse_args()
    wh = harness.warehouse(a.data)
    ok, lines, moved = True, 0, 0
    for engine in peers_of(a) or sys.exit("--peers: name at least one peer to compare with"):
        r = run_peer(engine, a.data, "chargeback")
        print(f"{engine}: chargeback.csv in {r['seconds']:.2f} s")
        peer = {}
        for row in csv.DictReader(open(os.path.join(a.data, f"out_{engine}", "chargeback.csv"))):
            peer[(row["month"], row["group"], row["cost_center"])] = (Decimal(row["cost_usd"]), int(row["requests"]))
        print(f"{'month':<8} {'tokenledger total':>18} {engine + ' total':>14} {'lines':>6} {'off by a cent':>14} {'seconds':>8}")
        for month in sorted({k[0] for k in peer}):
            out = os.path.join(a.data, f"chargeback-{month}.csv")
            seconds, _, _, _, _ = measure([a.bin, "-q", "-w", wh, "chargeback", "--period", month,
                                           "--by", "group,cost_center", "--output", out])
            ours = {(month, r["group"], r["cost_center"]): (Decimal(r["cost"]), int(r["requests"]))
                    for r in csv.DictReader(open(out)) if r["currency"] == "USD"}
            theirs = {k: v for k, v in peer.items() if k[0] == month}
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
    print(f"{lines} lines compared, {moved} off by one cent; totals {'equal' if ok else 'DIFFERENT'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
