"""Data-quality benchmark: the full `retailsim validate` suite vs the same contracts in pandera, side by side.

One run measures, each in a fresh process (so peak RSS is that engine's own):

* ``suite``          — every rule (contracts and cross-table rules) as DuckDB SQL (``run_validation``);
* ``sql contracts``  — only the per-table contracts (schema rules + unique keys) in the same engine;
* ``pandera-pandas`` — the same contracts as pandera schemas on pandas DataFrames, load included;
* ``pandera-polars`` — the same on polars DataFrames, load included;

on a ~10M-line dataset (``--preset medium``), clean and with 1% defects; then the full suite on ~50M lines
(``medium`` with 500,000 customers) with its peak RSS. Datasets are generated into a temporary folder and
deleted afterwards (``--keep`` keeps them, ``--reuse DIR`` reads them from a previous ``--keep``).

    .venv/bin/python benchmarks/bench_quality.py [--skip-50m] [--workers 2]

Goals (issue "Data quality"): suite ≥ 3× faster than pandera-pandas on the per-table contracts; the suite on
50M lines in < 30 s on a 2-core machine with bounded memory. CPU seconds are printed beside wall seconds:
on a shared machine wall time depends on the other load (see the load average printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


# ------------------------------------------------------------------------------------------------ workers


def work(kind: str, path: str) -> dict[str, Any]:
    """Run one engine on one dataset in this process; return timings and counts."""
    from retailsim import schema
    from retailsim.quality.engine import run_validation
    from retailsim.quality.rules import registry
    from retailsim.storage.dataset import Dataset

    t0, c0 = time.perf_counter(), _cpu()
    ds = Dataset(path)
    out: dict[str, Any] = {}
    if kind == "suite":
        rep = run_validation(ds)
        out = {"failing_rows": sum(t.failing_rows for t in rep.tables.values()), "rules": len(rep.results)}
    elif kind == "sql-contracts":
        rules = [r for r in registry(ds) if r.category == "contract"]
        rep = run_validation(ds, rules=rules)
        out = {"failing_rows": sum(t.failing_rows for t in rep.tables.values()), "rules": len(rules)}
    elif kind in ("pandera-pandas", "pandera-polars"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        warnings.simplefilter("ignore")
        from retailsim.quality.pandera_contracts import pandera_schema

        backend = kind.split("-")[1]
        failures = 0
        for spec in schema.DATA_TABLES:
            files = ds.files(spec.name)
            if not files:
                continue
            target = pa.schema([pa.field(c.name, c.type) for c in spec.columns])
            table = pa.concat_tables([pq.read_table(f).cast(target) for f in files])
            if backend == "pandas":
                frame: Any = table.to_pandas()
            else:
                import polars as pl

                frame = pl.from_arrow(table)
            del table
            try:
                pandera_schema(spec.name, backend=backend).validate(frame, lazy=True)  # type: ignore[arg-type]
            except Exception as err:  # SchemaErrors: count the failure cases
                cases = getattr(err, "failure_cases", None)
                if cases is None:
                    raise
                failures += len(cases)
            del frame
        out = {"failure_cases": failures}
    else:
        raise SystemExit(f"unknown kind {kind}")
    out.update(
        wall_s=time.perf_counter() - t0,
        cpu_s=_cpu() - c0,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return out


def measure(kind: str, path: Path) -> dict[str, Any]:
    res = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path)], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"{kind} on {path} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ main


def generate(out: Path, sets: list[str], defects: str | None, workers: int) -> tuple[Path, float, int]:
    from retailsim.config import build_config
    from retailsim.generate.runner import generate as run

    if out.exists() and (out / "manifest.json").exists():
        from retailsim.storage.dataset import Dataset

        ds = Dataset(out)
        return out, 0.0, ds.rows("transaction_lines")
    t0 = time.perf_counter()
    ds = run(build_config("medium", sets=sets), out, workers=workers, defects=defects, overwrite=True)
    return out, time.perf_counter() - t0, ds.rows("transaction_lines")


def _made(gen_s: float) -> str:
    return f"generated in {gen_s:.1f} s" if gen_s else "reused"


def fmt_row(name: str, r: dict[str, Any]) -> str:
    found = r.get("failing_rows", r.get("failure_cases", ""))
    return f"  {name:16} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['peak_rss_mb']:9.0f}   {found}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--skip-50m", action="store_true", help="Skip the 50M-line run.")
    ap.add_argument("--workers", type=int, default=2, help="Generator processes.")
    ap.add_argument("--keep", action="store_true", help="Keep the generated datasets.")
    ap.add_argument("--reuse", type=Path, help="Folder of datasets kept by an earlier --keep.")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(work(*args.worker)))
        return
    root = args.reuse or Path(tempfile.mkdtemp(prefix="bench-quality-"))
    print(
        f"bench_quality — {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; data in {root}"
    )
    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for label, defects in (("clean", None), ("1% defects", "rate=0.01")):
            path, gen_s, lines = generate(
                root / label.replace(" ", "_").replace("%", "pct"), ["seed=42"], defects, args.workers
            )
            print(f"\n{label}: {lines:,} lines ({_made(gen_s)})")
            print(f"  {'engine':16} {'wall s':>8} {'cpu s':>8} {'peak MB':>9}   rows failing / failure cases")
            results[label] = {}
            for kind in ("suite", "sql-contracts", "pandera-pandas", "pandera-polars"):
                r = measure(kind, path)
                results[label][kind] = r
                print(fmt_row(kind, r), flush=True)
            s, c, p = (results[label][k]["wall_s"] for k in ("suite", "sql-contracts", "pandera-pandas"))
            print(
                f"  pandera-pandas / sql-contracts = {p / c:.1f}×;  pandera-pandas / full suite = {p / s:.1f}× "
                f"(the suite also runs {results[label]['suite']['rules'] - results[label]['sql-contracts']['rules']} "
                "cross-table rules)"
            )
        if not args.skip_50m:
            path, gen_s, lines = generate(
                root / "50m", ["seed=42", "customers.count=500000"], None, args.workers
            )
            print(f"\n50M: {lines:,} lines ({_made(gen_s)})")
            r = measure("suite", path)
            results["50m"] = {"suite": r}
            print(fmt_row("suite", r))
            verdict = "under" if r["wall_s"] < 30 else "OVER"
            print(
                f"  full suite {verdict} 30 s wall ({r['wall_s']:.1f} s; {r['cpu_s']:.1f} CPU s), peak RSS {r['peak_rss_mb']:.0f} MB"
            )
        print(f"\nload average at end {os.getloadavg()[0]:.1f}")
        print(json.dumps(results))
    finally:
        if not args.keep and not args.reuse:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
