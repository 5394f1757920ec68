"""Generator speed, measured side by side in one run (the machine is shared and noisy: compare ratios).

(a) retailsim generating the demo preset and a ~10M-line dataset to Parquet;
(b) the write-only limit: numpy random columns with the schema of transaction_lines and transactions and the
    generator's row counts, written by pyarrow with the same compression and file layout (a file per shard and
    month), with the same worker count;
(c) a Faker per-row loop making customer records, against retailsim's vectorised customers.

Goals (issue "Foundation"): generator >= 0.5 x write-only limit on line items at the same worker count;
customers >= 100 x the Faker loop.

Usage: python benchmarks/bench_generate.py [--workers 1 2] [--big-customers 100000] [--skip-big]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from retailsim import schema
from retailsim.config import build_config
from retailsim.generate.population import customer_records
from retailsim.generate.runner import generate
from retailsim.generate.world import build_world
from retailsim.storage.files import labels, write_table


def _random_table(spec: schema.TableSpec, n: int, rng: np.random.Generator) -> pa.Table:
    """Cheap random values of the right Arrow type for every column of ``spec``: the limit must not be slowed
    by making its own data (strings come from a small pool through a dictionary, like the generator's)."""
    cols = {}
    for i, c in enumerate(spec.columns):
        mask = rng.random(n) < 0.1 if c.nullable else None
        if pa.types.is_integer(c.type):
            values = np.arange(n) if i == 0 else rng.integers(1, 5000, n)
            arr = pa.array(values, c.type, mask=mask)
        elif pa.types.is_floating(c.type):
            arr = pa.array(rng.integers(1, 100_000, n) / 100, c.type, mask=mask)
        elif pa.types.is_timestamp(c.type):
            arr = pa.array(
                np.sort(rng.integers(1_700_000_000, 1_750_000_000, n)).astype("datetime64[s]"), c.type
            )
        else:
            pool = c.allowed or ("alpha", "beta", "gamma", "delta")
            arr = labels(rng.integers(0, len(pool), n), tuple(pool))
        cols[c.name] = arr
    return pa.table(cols, schema=spec.arrow_schema())


def _write_only_part(args: tuple[int, int, int, str, int]) -> int:
    """Random columns with the schema of transaction_lines and transactions, at the generator's row counts,
    written the way the generator writes them (zstd Parquet, one file per shard and month)."""
    part, lines, txns, root, months = args
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    rng = np.random.default_rng(part)
    for m in range(months):
        for spec, n in ((schema.TRANSACTION_LINES, lines // months), (schema.TRANSACTIONS, txns // months)):
            t = _random_table(spec, n, rng)
            write_table(
                t, Path(root), f"{spec.name}/month={m:02d}/part-{part:05d}.parquet", spec.name, "parquet"
            )
    return (lines // months) * months


def write_only_limit(lines: int, txns: int, parts: int, workers: int, months: int) -> float:
    root = tempfile.mkdtemp(prefix="bench-wo-")
    try:
        tasks = [(p, lines // parts, txns // parts, root, months) for p in range(parts)]
        t0 = time.perf_counter()
        if workers == 1:
            done = sum(_write_only_part(t) for t in tasks)
        else:
            with ProcessPoolExecutor(workers) as pool:
                done = sum(pool.map(_write_only_part, tasks))
        return done / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def generator_rate(preset: str, workers: int, sets: list[str]) -> tuple[float, int, int, int]:
    cfg = build_config(preset, sets=sets)
    root = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    try:
        t0 = time.perf_counter()
        ds = generate(cfg, root / "ds", workers=workers)
        secs = time.perf_counter() - t0
        lines = ds.rows("transaction_lines")
        return lines / secs, lines, ds.rows("transactions"), cfg.n_shards
    finally:
        shutil.rmtree(root, ignore_errors=True)


def faker_loop_rate(n: int) -> float:
    from faker import Faker

    fake = Faker("en_US")
    Faker.seed(1)
    t0 = time.perf_counter()
    rows = [
        {
            "first_name": fake.first_name(),
            "last_name": fake.last_name(),
            "email": fake.email(),
            "phone": fake.phone_number(),
            "street_address": fake.street_address(),
            "city": fake.city(),
            "birth_date": fake.date_of_birth(minimum_age=16, maximum_age=90),
        }
        for _ in range(n)
    ]
    assert len(rows) == n
    return n / (time.perf_counter() - t0)


def retailsim_customers_rate(n: int) -> float:
    cfg = build_config("demo", sets=[f"customers.count={n}", f"shard_customers={n}"])
    world = build_world(cfg)
    customer_records(
        world, np.random.default_rng(0), 0, 1000
    )  # warm the name pools, as each worker does once
    t0 = time.perf_counter()
    c = customer_records(world, np.random.default_rng(1), 0, n)
    assert c.table.num_rows == n
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--big-customers", type=int, default=100_000, help="customers of the ~10M-line run")
    ap.add_argument("--skip-big", action="store_true")
    args = ap.parse_args()

    print("== line items: generator vs write-only limit (same workers, same zstd Parquet layout) ==")
    runs = [("demo", [])]
    if not args.skip_big:
        runs.append(("medium", [f"customers.count={args.big_customers}"]))
    for preset, sets in runs:
        for w in args.workers:
            gen, lines, txns, shards = generator_rate(preset, w, sets)
            limit = write_only_limit(lines, txns, parts=shards, workers=w, months=18)
            print(
                f"{preset:>6} {lines:>11,} lines  workers={w}  generator {gen:>11,.0f} lines/s  "
                f"write-only {limit:>11,.0f} lines/s  ratio {gen / limit:.2f} (goal >= 0.5)"
            )

    print("== customers: vectorised pools vs a Faker per-row loop ==")
    faker = faker_loop_rate(3000)
    ours = retailsim_customers_rate(200_000)
    print(
        f"faker loop {faker:,.0f} customers/s  retailsim {ours:,.0f} customers/s  ratio {ours / faker:,.0f}x (goal >= 100x)"
    )


if __name__ == "__main__":
    main()
