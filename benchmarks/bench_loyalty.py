"""Benchmark: replay 18 monthly loyalty reviews over a ~10M-line dataset (goal: under 60 s).

Usage::

    python benchmarks/bench_loyalty.py                     # generates the `medium` preset in a temp folder
    python benchmarks/bench_loyalty.py --dataset /tmp/medium-loy   # or reuse one

It measures, in one run: a full ``replay`` (the activity scan in DuckDB, the 18 reviews vectorised over all
customers, the atomic write of ``loyalty/``), an incremental ``assign`` with nothing new (the fingerprint
check), ``tiers_as_of`` at 18 cut-offs one by one (what the ML dataset builder calls) and ``tiers_at`` with
all 18 in one pass, both cold (first call scans the data) and warm (cached monthly activity).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, help="Existing dataset folder (default: generate `medium`).")
    ap.add_argument("--workers", type=int, default=2, help="Generator workers when generating.")
    ap.add_argument("--keep", action="store_true", help="Keep the generated dataset.")
    args = ap.parse_args()

    from _medium import medium_dataset

    from retailsim.loyalty import assign, replay, tiers_as_of, tiers_at
    from retailsim.loyalty.config import LoyaltyConfig
    from retailsim.loyalty.engine import clear_cache, review_dates

    with medium_dataset(args.dataset, workers=args.workers, prefix="bench-loyalty-", keep=args.keep) as ds:
        clear_cache()
        t0 = time.perf_counter()
        run = replay(ds)
        t_replay = time.perf_counter() - t0
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in run.timings.items())
        print(
            f"replay: {len(run.reviews_run)} monthly reviews {run.reviews_run[0]} … {run.reviews_run[-1]}, "
            f"{run.rows:,} spells: {t_replay:.2f} s ({parts})"
        )
        mix = ", ".join(f"{r.tier} {100 * r.share:.1f}%" for r in run.mix.itertuples())
        print(f"  tier mix as of {run.to}: {mix}")

        t0 = time.perf_counter()
        again = assign(ds)
        print(f"assign with nothing new ({again.kind}): {time.perf_counter() - t0:.2f} s")

        cutoffs = review_dates(LoyaltyConfig(), run.start, run.to)
        clear_cache()
        t0 = time.perf_counter()
        tiers_as_of(ds, cutoffs[0])
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        for c in cutoffs:
            tiers_as_of(ds, c)
        warm = time.perf_counter() - t0
        print(
            f"tiers_as_of: first call {cold:.2f} s (scan), then {len(cutoffs)} cut-offs in {warm:.2f} s "
            f"({1000 * warm / len(cutoffs):.0f} ms each)"
        )
        t0 = time.perf_counter()
        f = tiers_at(ds, cutoffs)
        print(
            f"tiers_at: {len(cutoffs)} cut-offs in one pass: {time.perf_counter() - t0:.2f} s ({len(f):,} rows)"
        )

        verdict = "OK" if t_replay < 60 else "TOO SLOW"
        print(f"goal: replay of 18 monthly reviews over ~10M lines < 60 s -> {t_replay:.2f} s [{verdict}]")


if __name__ == "__main__":
    main()
