"""Generator speed, measured side by side in one run (the machine is shared and noisy: compare ratios).

(a) line items: the whole ``retailsim generate`` command (a fresh interpreter: imports, world, simulation,
    writing, manifest) on the demo preset with ~10M lines, against the write-only limit at the same worker
    count: numpy random columns of a line-item table (the schema of transaction_lines) written as zstd Parquet,
    ONE file per process, pyarrow limited to one thread per process; only the writing is timed (not the
    processes' start-up, not making the random columns). The limit is measured twice: with pyarrow's default
    settings (a dictionary and statistics on every column, as the issue measured it) and with the generator's
    own settings for line items (``retailsim.schema``: delta-encoded ``txn_id``, no statistics on the money
    columns), so cheaper settings cannot flatter the ratio. Each measurement is repeated (``--repeat``, generator and limits taking turns); the best time of each
    gives the ratio — a neighbour's burst on a shared machine only ever slows a run down — and the spread of
    the per-round ratios is printed beside it;
(b) a Faker per-row loop making customer records, against retailsim's vectorised customers.

Goals: generator >= 0.5 x write-only limit at the same worker count (issue "Generator speed"); customers >=
100 x the Faker loop (issue "Foundation").

Usage: python benchmarks/bench_generate.py [--workers 1 2] [--customers 90000] [--repeat 5] [--skip-customers]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from retailsim import schema
from retailsim.config import build_config
from retailsim.generate.population import customer_records
from retailsim.generate.world import build_world
from retailsim.storage.dataset import Dataset
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


LIMIT_SETTINGS = {
    # written as a table of the schema: the generator's settings for line items
    "generator": "transaction_lines",
    # written under a name outside the schema: pyarrow's defaults (a dictionary and statistics on every column)
    "pyarrow-default": "write-only limit",
}


def _write_only_part(args: tuple[int, int, str, str]) -> tuple[int, float]:
    """One process of the limit: random columns of a line-item table (the schema of transaction_lines) written
    as ONE zstd Parquet file (settings: a key of :data:`LIMIT_SETTINGS`); pyarrow limited to one thread
    like the generator's workers. Returns (rows, seconds of writing: making the random columns is not
    counted)."""
    part, n, root, settings = args
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    t = _random_table(schema.TRANSACTION_LINES, n, np.random.default_rng(part))
    t0 = time.perf_counter()
    write_table(t, Path(root), f"part-{part:05d}.parquet", LIMIT_SETTINGS[settings], "parquet")
    return n, time.perf_counter() - t0


def write_only_limit(lines: int, workers: int, settings: str = "generator") -> float:
    """Line items per second that ``workers`` processes reach making random columns and writing them as one
    file each — the writing time inside the processes only (neither pool start-up nor making the random
    columns is counted: the limit is generous)."""
    root = tempfile.mkdtemp(prefix="bench-wo-")
    try:
        tasks = [(p, lines // workers, root, settings) for p in range(workers)]
        if workers == 1:
            done = [_write_only_part(t) for t in tasks]
        else:
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_noop, range(workers)))  # processes started before the clock runs
                done = list(pool.map(_write_only_part, tasks))
        return sum(n for n, _ in done) / max(s for _, s in done)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _noop(_: int) -> None:
    return None


def generator_rate(preset: str, workers: int, sets: list[str]) -> tuple[float, int, float]:
    """The whole ``retailsim generate`` command (a fresh interpreter: imports, world, simulation, writing,
    manifest): (lines per second, lines, seconds)."""
    root = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    cmd = [sys.executable, "-m", "retailsim", "generate", "--preset", preset, "--out", str(root / "ds")]
    cmd += ["--workers", str(workers), "-q"]
    for s in sets:
        cmd += ["--set", s]
    try:
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        secs = time.perf_counter() - t0
        lines = Dataset(root / "ds").rows("transaction_lines")
        return lines / secs, lines, secs
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


def _span(rates: list[float]) -> str:
    return f"{min(rates) / 1e6:.2f}-{max(rates) / 1e6:.2f}M"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--customers", type=int, default=90_000, help="customers of the demo run (90,000: ~10M lines)"
    )
    ap.add_argument(
        "--repeat", type=int, default=5, help="rounds per worker count (best time of each counts)"
    )
    ap.add_argument("--skip-customers", action="store_true", help="Skip (b), the Faker comparison.")
    args = ap.parse_args()

    print("== line items: the whole generate command vs the write-only limit (same workers) ==")
    sets = [f"customers.count={args.customers}"]
    for w in args.workers:
        gen: list[float] = []
        limits: dict[str, list[float]] = {k: [] for k in LIMIT_SETTINGS}
        lines = 0
        for _ in range(args.repeat):  # taking turns, so a slow spell of the machine hits both sides
            rate, lines, _secs = generator_rate("demo", w, sets)
            gen.append(rate)
            for k in LIMIT_SETTINGS:
                limits[k].append(write_only_limit(lines, w, k))
        print(
            f"demo {args.customers:,} customers: {lines:,} lines  workers={w}  generator best "
            f"{max(gen):>10,.0f} lines/s ({lines / max(gen):.2f} s; runs {_span(gen)})",
            flush=True,
        )
        for k, lim in limits.items():
            per_round = [g / x for g, x in zip(gen, lim, strict=True)]
            print(
                f"    write-only limit, {k + ' settings':25s} best {max(lim):>10,.0f} lines/s  "
                f"ratio {max(gen) / max(lim):.2f} (goal >= 0.5; per round {min(per_round):.2f}-"
                f"{max(per_round):.2f})",
                flush=True,
            )
    if args.skip_customers:
        return

    print("== customers: vectorised pools vs a Faker per-row loop ==")
    faker = faker_loop_rate(3000)
    ours = retailsim_customers_rate(200_000)
    print(
        f"faker loop {faker:,.0f} customers/s  retailsim {ours:,.0f} customers/s  ratio {ours / faker:,.0f}x (goal >= 100x)"
    )


if __name__ == "__main__":
    main()
