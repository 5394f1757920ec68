"""The ``retailsim`` command line: a thin Typer app per capability; commands parse and call the library."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retailsim.errors import RetailsimError

console = Console(stderr=True)
out = Console()

app = typer.Typer(
    name="retailsim",
    help="A retail data lab: generate realistic relational retail data, check it, and predict customer spend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def print_error(message: object) -> None:
    """One line on stderr (not wrapped at the terminal width: logs and ``grep`` see the whole message)."""
    console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    print_error(message)
    return typer.Exit(code)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (refused if it exists).")],
    preset: Annotated[str, typer.Option(help="Preset: tiny, small, demo, medium, large.")] = "demo",
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config (e.g. a calibrated twin).", dir_okay=False),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides the config).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting: --set customers.count=200000")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet, csv or duckdb.")] = "parquet",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=256,
            help="Local worker processes (1: one process, writing each shard while simulating the next); same bytes for any value.",
        ),
    ] = 1,
    executor: Annotated[
        str, typer.Option(help="local (process pool) or dask (the same shards as Dask tasks, same bytes).")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler tcp://host:8786 (default: a LocalCluster sized to the machine)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    defects: Annotated[
        str | None,
        typer.Option(
            help="Inject labelled defects: rate=0.01[,kinds=bad_quantity+orphan_key] (truth/defects)."
        ),
    ] = None,
) -> None:
    """Simulate shoppers and write stores, products, customers, promotions, transactions and lines."""
    from retailsim.config import build_config, load_config
    from retailsim.generate.runner import generate as run_generate

    if fmt not in ("parquet", "csv", "duckdb"):
        raise fail(f"--format must be one of parquet, csv, duckdb (got {fmt!r})")
    sets = list(set_ or []) + ([f"seed={seed}"] if seed is not None else [])
    try:
        cfg = load_config(config, sets=sets) if config else build_config(preset, sets=sets)
        total = cfg.n_tasks + 1
        from retailsim.scale.dask_executor import open_executor

        with (
            open_executor(executor, scheduler=scheduler, workers=workers) as ex,
            Progress(
                TextColumn("[bold]generate[/]"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} tasks"),
                TextColumn("{task.fields[lines]:,} lines · {task.fields[rate]}"),
                TimeElapsedColumn(),
                console=console,
                disable=quiet,
                transient=False,
            ) as progress,
        ):
            task = progress.add_task("tasks", total=total, lines=0, rate="")
            t0 = time.perf_counter()
            done_lines = 0

            def on_progress(res: object) -> None:
                nonlocal done_lines
                done_lines += getattr(res, "lines", 0)
                rate = done_lines / max(time.perf_counter() - t0, 1e-9)
                progress.update(task, advance=1, lines=done_lines, rate=f"{rate:,.0f} lines/s")

            ds = run_generate(
                cfg,
                out_dir,
                fmt=fmt,
                workers=workers,
                executor=ex,
                overwrite=overwrite,  # type: ignore[arg-type]
                on_progress=on_progress,
                defects=defects,
            )
    except RetailsimError as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; no output was written", 130) from None
    if not quiet and defects:  # damaged data (CSV cells that do not parse…): no facts, point to validate
        n = ds.manifest["defects"]["rows"]
        out.print(
            f"wrote {out_dir} with {n:,} labelled defects (truth/defects.parquet); check: retailsim validate {out_dir}"
        )
    elif not quiet:
        from retailsim.summary import print_summary

        print_summary(ds, out)


@app.command()
def schema(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the Markdown data dictionary.")] = False,
    table: Annotated[str | None, typer.Argument(help="Only this table.")] = None,
) -> None:
    """Print the table schema (the single source every writer and check reads)."""
    from retailsim import schema as sch

    if markdown:
        out.print(sch.to_markdown(), markup=False, highlight=False, soft_wrap=True)
        return
    specs = list(sch.TABLES.values())
    if table:
        try:
            specs = [sch.table(table)]
        except KeyError as err:
            raise fail(str(err.args[0])) from None
    for spec in specs:
        t = Table(
            title=f"{'truth/' if spec.truth else ''}{spec.name} — {spec.description}", title_justify="left"
        )
        for col in ("column", "type", "null", "constraints", "description"):
            t.add_column(col)
        for c in spec.columns:
            t.add_row(
                c.name,
                sch.to_duckdb_type(c.type),
                "yes" if c.nullable else "",
                sch.constraint_text(c),
                c.description,
            )
        out.print(t)
        keys = f"PK ({', '.join(spec.primary_key)})"
        for fk in spec.foreign_keys:
            keys += f"; FK {', '.join(fk.columns)} → {fk.ref_table}.{', '.join(fk.ref_columns)}"
        out.print(f"  {keys}\n", highlight=False)


@app.command()
def export(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Output file (.parquet or .csv).")],
    flat: Annotated[
        bool,
        typer.Option(
            "--flat",
            help="Lines joined with transaction, customer, product, store (an imported log: the columns it "
            "has, with the source customer id as external_id).",
        ),
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Export the flat "final dataset" analysts ask for: one row per line item with every attribute."""
    from retailsim.export import export_flat

    if not flat:
        raise fail("only --flat export is supported")
    try:
        n = export_flat(dataset, out_file, overwrite=overwrite)
    except RetailsimError as err:
        raise fail(str(err)) from None
    out.print(f"wrote {n:,} rows to {out_file}")


@app.command()
def summary(dataset: Annotated[Path, typer.Argument(help="Dataset folder.")]) -> None:
    """Row counts and the retail facts of a dataset."""
    from retailsim.storage.dataset import Dataset
    from retailsim.summary import print_summary

    try:
        print_summary(Dataset(dataset), out)
    except RetailsimError as err:
        raise fail(str(err)) from None


def _register_capabilities() -> None:
    """Each capability owns its commands in ``retailsim/<capability>/cli.py`` and adds them here."""
    import importlib

    for capability in ("fidelity", "quality", "loyalty", "ml", "app", "scale", "api"):
        importlib.import_module(f"retailsim.{capability}.cli").register(app)


_register_capabilities()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except RetailsimError as err:  # pragma: no cover - commands catch their own
        print_error(err)
        sys.exit(2)
    finally:
        # the process ends here: frozen objects are skipped by the interpreter's final garbage collections,
        # which otherwise walk every object of numpy, pyarrow and pydantic (~0.08 s per command)
        gc.freeze()


if __name__ == "__main__":
    main()
