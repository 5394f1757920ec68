"""Scale-out commands: ``load`` (PostgreSQL) and ``publish`` (fsspec URLs); Dask options are on ``generate``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""
    app.command(name="load")(load)
    app.command(name="publish")(publish)


def load(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (Parquet, CSV or DuckDB).")],
    postgres: Annotated[
        str | None,
        typer.Option(
            "--postgres",
            envvar="RETAILSIM_POSTGRES_URL",
            show_envvar=True,
            help="Target database: postgresql://user:password@host:5432/dbname (or set the variable, which "
            "keeps the password out of the shell history; libpq's PGPASSWORD works too).",
        ),
    ] = None,
    schema_name: Annotated[
        str, typer.Option("--schema", help="Target schema (created when missing).")
    ] = "public",
    if_exists: Annotated[
        str,
        typer.Option(help="fail: refuse existing tables; replace: swap in the new tables once fully loaded."),
    ] = "fail",
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")
    ] = None,
    truth: Annotated[bool, typer.Option("--truth", help="Also load the ground-truth tables.")] = False,
    constraints: Annotated[
        bool,
        typer.Option(
            help="NOT NULL, primary and foreign keys. --no-constraints for datasets with injected defects."
        ),
    ] = True,
    copy_format: Annotated[
        str,
        typer.Option(help="auto: binary COPY for all-numeric tables, CSV for the rest; or csv, binary."),
    ] = "auto",
    print_ddl: Annotated[
        bool, typer.Option("--print-ddl", help="Print the PostgreSQL DDL for the dataset's tables and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Load a dataset into PostgreSQL: tables from the schema, rows by COPY, keys after the load, all or
    nothing (one transaction per table in a staging schema, then one swap)."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from retailsim.cli import console, fail, out
    from retailsim.errors import RetailsimError
    from retailsim.scale.postgres import load_postgres, plan_tables, postgres_ddl, redact
    from retailsim.storage.dataset import Dataset

    if if_exists not in ("fail", "replace"):
        raise fail(f"--if-exists must be fail or replace (got {if_exists!r})")
    try:
        ds = Dataset(dataset)
        if print_ddl:
            specs = plan_tables(ds, table, truth)
            out.print(
                postgres_ddl(specs, schema_name, constraints=constraints), markup=False, highlight=False
            )
            return
        if not postgres:
            raise fail("--postgres postgresql://user:password@host:5432/dbname is required")
        with Progress(
            TextColumn("[bold]load[/] {task.description:<18}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} rows · {task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        ) as progress:
            bars: dict[str, tuple[TaskID, float]] = {}

            def on_progress(name: str, done: int, total: int) -> None:
                if name not in bars:
                    bars[name] = (progress.add_task(name, total=max(total, 1), rate=""), time.perf_counter())
                bar, t0 = bars[name]
                rate = done / max(time.perf_counter() - t0, 1e-9)
                progress.update(bar, completed=done, rate=f"{rate:,.0f} rows/s")

            report = load_postgres(
                ds,
                postgres,
                schema_name=schema_name,
                if_exists=if_exists,  # type: ignore[arg-type]
                tables=table,
                truth=truth,
                constraints=constraints,
                copy_format=copy_format,  # type: ignore[arg-type]
                on_progress=on_progress,
            )
    except RetailsimError as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; the database was left as it was", 130) from None
    if quiet:
        return
    t = Table(title=f"Loaded into {redact(postgres)} schema {schema_name!r}", title_justify="left")
    for col in ("table", "rows", "seconds", "COPY rows/s"):
        t.add_column(col, justify="left" if col == "table" else "right")
    for name, rows in report.rows.items():
        copy_s = report.copy_seconds.get(name, 0.0)
        t.add_row(name, f"{rows:,}", f"{report.seconds[name]:.2f}", f"{rows / max(copy_s, 1e-9):,.0f}")
    t.add_row("keys, indexes, swap", "", f"{report.seconds.get('_keys_and_swap', 0.0):.2f}", "")
    out.print(t)
    extra = f"; replaced {', '.join(report.replaced)}" if report.replaced else ""
    out.print(f"{report.total_rows:,} rows in {report.total_seconds:.1f} s{extra}", highlight=False)


def publish(
    dataset: Annotated[Path, typer.Argument(help="A complete dataset folder.")],
    url: Annotated[str, typer.Argument(help="Target: s3://bucket/prefix, gs://…, file:///…, or a path.")],
    overwrite: Annotated[bool, typer.Option(help="Replace a dataset already there.")] = False,
) -> None:
    """Copy a dataset to object storage or any fsspec URL: data files first, manifest.json last."""
    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.scale.publish import publish as run_publish

    try:
        n = run_publish(dataset, url, overwrite=overwrite)
    except RetailsimError as err:
        raise fail(str(err)) from None
    except OSError as err:
        raise fail(f"cannot write to {url}: {err}") from None
    out.print(f"published {n} files to {url}", highlight=False)
