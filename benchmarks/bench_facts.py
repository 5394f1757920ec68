"""Facts over a ~10M-line dataset: every stylised fact of retailsim.fidelity in DuckDB, timed.

Goal (issue "Fidelity"): all facts of a 10M-line dataset in < 30 s.

Usage:
    python benchmarks/bench_facts.py                    # generates --preset medium (~10M lines) in a temp dir
    python benchmarks/bench_facts.py --dataset data/medium [--repeat 3] [--threads 2]

The dataset is generated once with ``--workers`` processes when not given (that time is reported apart).
Each repetition opens a fresh DuckDB connection, so no result is cached between runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _medium import medium_dataset

from retailsim.fidelity.bands import check_bands
from retailsim.fidelity.facts import FACTS, compute_facts

GOAL_S = 30.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--dataset", type=Path, help="Existing dataset folder (default: generate --preset medium)."
    )
    ap.add_argument("--workers", type=int, default=2, help="Processes for generating the dataset.")
    ap.add_argument("--repeat", type=int, default=3, help="Timed repetitions.")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: DuckDB's default).")
    args = ap.parse_args()

    with medium_dataset(args.dataset, workers=args.workers, prefix="bench-facts-") as ds:
        lines = ds.rows("transaction_lines")
        times = []
        report = None
        for i in range(args.repeat):
            con = ds.connect()
            if args.threads:
                con.execute(f"SET threads = {args.threads}")
            t0 = time.perf_counter()
            report = compute_facts(ds, con=con)
            times.append(time.perf_counter() - t0)
            con.close()
            print(f"  run {i + 1}: {times[-1]:.2f} s")
        assert report is not None
        best, worst = min(times), max(times)
        n_values = sum(1 for f in FACTS if report.get(f.id) is not None)
        print(
            f"all {len(FACTS)} facts ({n_values} available) in {best:.2f} s best / {worst:.2f} s worst "
            f"-> {lines / best / 1e6:.1f} M lines/s; goal < {GOAL_S:.0f} s: {'met' if worst < GOAL_S else 'MISSED'}"
        )
        out = [r for r in check_bands(report) if r.status == "out"]
        print("bands:", "all in band" if not out else ", ".join(f"{r.band.name} {r.value_text}" for r in out))


if __name__ == "__main__":
    main()
