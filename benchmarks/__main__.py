"""``python -m benchmarks [--quick] [--device auto] [--json PATH]``: run and print the table."""

from __future__ import annotations

import argparse
import json
import logging
import time

from . import core
from .machine import describe


def _table(rows: list[dict], machine: dict[str, str]) -> str:
    lines = ["Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()), ""]
    head = f"| {'stage':<28} | {'size':<30} | {'seconds':>8} | {'throughput':>14} | {'unit':<18} | {'peak RSS GiB':>12} |"
    lines += [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        lines.append(f"| {r['stage']:<28} | {r['size']:<30} | {r['seconds']:>8.2f} | {r['throughput']:>14,.0f} | {r['unit']:<18} | {r['peak_rss_gib']:>12.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (a few minutes at most)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None, help="also write the rows as JSON")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    core.main_threads()
    t0 = time.perf_counter()
    machine = describe()
    # each row as soon as it is measured (a run stopped by a time limit keeps what it measured), then the table
    rows = core.run(quick=args.quick, device=args.device, on_row=lambda r: print(_table([r], machine).splitlines()[-1], flush=True))
    print(_table(rows, machine))
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": machine, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
