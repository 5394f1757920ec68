"""PostgreSQL load rate (issue "Scale out"): `retailsim load` against a plain COPY of the same CSV files.

On one throwaway server (initdb + pg_ctl, fsync off unless --durable), for the transaction_lines table:

(a) retailsim load from the Parquet dataset: DuckDB -> Arrow batches -> COPY FROM STDIN, in PostgreSQL's binary
    format (the default for this all-numeric table) and forced to CSV (the path of tables with text);
(b) retailsim load from the CSV dataset (DuckDB reads the CSV files);
(c) plain COPY FROM STDIN of the dataset's CSV files, byte for byte (what `psql \\copy` does);
(d) server-side COPY FROM 'file' of the same files (PostgreSQL reads them itself; the server's own limit).

Rates are rows/s of the COPY alone into a table without keys; retailsim's primary key, foreign keys and indexes
are timed separately. Not part of the test suite.

Usage: python benchmarks/bench_postgres.py [--preset demo] [--set customers.count=20000] [--durable]
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from retailsim import schema
from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.scale.pgserver import TemporaryPostgres
from retailsim.scale.postgres import create_table_sql, load_postgres

TABLE = schema.TRANSACTION_LINES


def _fresh_table(url: str, schema_name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema_name}"')
        conn.execute(create_table_sql(TABLE, schema_name))


def plain_copy_stdin(url: str, files: list[Path]) -> tuple[int, float]:
    """Stream the CSV files' bytes into COPY FROM STDIN, one transaction."""
    _fresh_table(url, "plain_stdin")
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        for f in files:
            with (
                cur.copy(f'COPY plain_stdin."{TABLE.name}" FROM STDIN (FORMAT csv, HEADER true)') as copy,
                f.open("rb") as fh,
            ):
                while block := fh.read(1 << 20):
                    copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - t0
        rows = cur.execute(f'SELECT count(*) FROM plain_stdin."{TABLE.name}"').fetchone()
    return int(rows[0]) if rows else 0, seconds


def plain_copy_server(url: str, files: list[Path], server_dir: Path) -> tuple[int, float]:
    """Copy the files where the server can read them and COPY FROM 'file' (server-side), one transaction."""
    _fresh_table(url, "plain_server")
    local = server_dir / "bench-csv"
    local.mkdir()
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    copies = []
    for i, f in enumerate(files):
        dst = local / f"{i:05d}.csv"
        shutil.copyfile(f, dst)
        if owner:
            os.chown(dst, owner.pw_uid, owner.pw_gid)
        copies.append(dst)
    if owner:
        os.chown(local, owner.pw_uid, owner.pw_gid)
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        for f in copies:
            conn.execute(f"COPY plain_server.\"{TABLE.name}\" FROM '{f}' (FORMAT csv, HEADER true)")
        conn.commit()
        seconds = time.perf_counter() - t0
        rows = conn.execute(f'SELECT count(*) FROM plain_server."{TABLE.name}"').fetchone()
    shutil.rmtree(local, ignore_errors=True)
    return int(rows[0]) if rows else 0, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="Config override (repeatable).")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--durable", action="store_true", help="fsync on (slower; closer to a production server)."
    )
    args = ap.parse_args()

    cfg = build_config(args.preset, sets=["seed=42", *args.sets])
    root = Path(tempfile.mkdtemp(prefix="retailsim-bench-pg-"))
    try:
        pq_ds = generate(cfg, root / "parquet", workers=args.workers)
        csv_ds = generate(cfg, root / "csv", fmt="csv", workers=args.workers)
        files = sorted(csv_ds.files(TABLE.name))
        size = sum(f.stat().st_size for f in files)
        n = pq_ds.rows(TABLE.name)
        print(f"{TABLE.name}: {n:,} rows; {len(files)} CSV files, {size / 1e6:,.0f} MB", flush=True)
        with TemporaryPostgres(durable=args.durable) as pg:
            print(f"server: {pg.bindir}, fsync {'on' if args.durable else 'off'}", flush=True)
            results: dict[str, float] = {}
            runs = (
                ("retailsim load (Parquet, binary)", pq_ds, "auto", "pq_binary"),
                ("retailsim load (Parquet, CSV)", pq_ds, "csv", "pq_csv"),
                ("retailsim load (CSV, binary)", csv_ds, "auto", "csv_binary"),
            )
            for label, ds, fmt, schema_name in runs:
                rep = load_postgres(ds, pg.url, schema_name=schema_name, tables=[TABLE.name], copy_format=fmt)
                copy_s = rep.copy_seconds[TABLE.name]
                keys_s = rep.seconds[TABLE.name] - copy_s
                results[label] = n / copy_s
                print(
                    f"{label:<34} COPY {copy_s:6.2f} s {n / copy_s:>11,.0f} rows/s; "
                    f"+ primary key {keys_s:.2f} s, + indexes/swap {rep.seconds['_keys_and_swap']:.2f} s; "
                    f"total {rep.total_seconds:.2f} s",
                    flush=True,
                )
            rows, s = plain_copy_stdin(pg.url, files)
            assert rows == n, (rows, n)
            results["plain COPY FROM STDIN (CSV)"] = n / s
            print(
                f"{'plain COPY FROM STDIN (CSV bytes)':<34} COPY {s:6.2f} s {n / s:>11,.0f} rows/s",
                flush=True,
            )
            assert pg.base is not None
            rows, s = plain_copy_server(pg.url, files, pg.base)
            assert rows == n, (rows, n)
            results["server COPY FROM file (CSV)"] = n / s
            print(
                f"{'server-side COPY FROM file (CSV)':<34} COPY {s:6.2f} s {n / s:>11,.0f} rows/s", flush=True
            )
        base = results["plain COPY FROM STDIN (CSV)"]
        print("\nratio to plain COPY FROM STDIN of the same CSV:")
        for label, rate in results.items():
            print(f"  {label:<34} {rate / base:5.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
