"""Fidelity commands: import, facts, calibrate, compare (issue: Fidelity).

Commands only parse arguments and call :mod:`retailsim.fidelity`; every rule lives in the library.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

MapOpt = Annotated[
    str | None,
    typer.Option(
        "--map",
        help="Log columns of the fields, FIELD=COLUMN comma-separated: customer_id, timestamp, amount "
        "(required), quantity, product, store, txn_id. Default: columns named like the fields.",
    ),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format", help="strptime format of the timestamp column, e.g. %Y%m%d (default: ISO)."
    ),
]
DelimiterOpt = Annotated[str | None, typer.Option(help="CSV delimiter (default: sniffed from the header).")]
DropReturnsOpt = Annotated[
    bool,
    typer.Option("--drop-returns", help="Skip rows with a negative amount or quantity instead of failing."),
]
ExampleOpt = Annotated[
    str | None, typer.Option("--example", help="Use a log shipped with retailsim instead of LOG: cdnow.")
]


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""
    app.command("import")(import_cmd)
    app.command("facts")(facts_cmd)
    app.command("calibrate")(calibrate_cmd)
    app.command("compare")(compare_cmd)


@contextlib.contextmanager
def _log_source(
    log: Path | None, example: str | None, mapping: str | None, date_format: str | None
) -> Iterator[tuple[Path, dict[str, str], str | None, str | None]]:
    """The log to read with its mapping and date format (a shipped example brings its own)."""
    from retailsim.errors import RetailsimError
    from retailsim.fidelity.importer import EXAMPLES, example_path, parse_mapping

    if (log is None) == (example is None):
        raise RetailsimError("give either a LOG file or --example NAME (shipped examples: cdnow)")
    if example is not None:
        ex = EXAMPLES.get(example)
        with example_path(example) as p:
            assert ex is not None
            yield p, {**ex.mapping, **parse_mapping(mapping)}, date_format or ex.date_format, ex.resource
        return
    assert log is not None
    yield log, parse_mapping(mapping), date_format, None


def import_cmd(
    log: Annotated[Path | None, typer.Argument(help="Transaction log: CSV (.gz allowed) or Parquet.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output dataset folder.")] = None,
    mapping: MapOpt = None,
    date_format: DateFormatOpt = None,
    delimiter: DelimiterOpt = None,
    drop_returns: DropReturnsOpt = False,
    example: ExampleOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet or csv.")] = "parquet",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Import a real transaction log into a dataset with the schema `generate` writes.

    Example: retailsim import cdnow.csv --map customer_id=cust,timestamp=date,amount=dollars,quantity=cds
    --date-format %Y%m%d --out data/cdnow   (or: retailsim import --example cdnow --out data/cdnow)
    """
    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.fidelity.importer import import_log
    from retailsim.summary import print_summary

    if out_dir is None:
        raise fail("--out is required")
    if fmt not in ("parquet", "csv"):
        raise fail(f"--format must be parquet or csv (got {fmt!r})")
    try:
        with _log_source(log, example, mapping, date_format) as (path, cols, dfmt, name):
            res = import_log(
                path,
                out_dir,
                mapping=cols,
                date_format=dfmt,
                delimiter=delimiter,
                drop_returns=drop_returns,
                fmt=fmt,  # type: ignore[arg-type]
                overwrite=overwrite,
                source_name=name,
            )
        out.print(
            f"imported {res.rows_read:,} rows"
            + (f" ({res.rows_dropped:,} returns dropped)" if res.rows_dropped else "")
            + f" into {out_dir}; mapping {', '.join(f'{k}={v}' for k, v in res.mapping.items())}; "
            f"dates {res.date_format}",
            highlight=False,
        )
        if res.absent:
            out.print(
                "not in the log (absent, null): "
                + "; ".join(f"{t}: {', '.join(cs)}" for t, cs in res.absent.items()),
                highlight=False,
            )
        print_summary(res.dataset, out)
    except RetailsimError as err:
        raise fail(str(err)) from None


def facts_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (generated or imported).")],
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write every fact (distributions too) as JSON; - for stdout."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Compare with the FIDELITY.md bands; exit 1 if a fact is out of band."),
    ] = False,
) -> None:
    """Stylised retail facts of a dataset (definitions: docs/facts.md), optionally checked against bands."""
    from rich.table import Table

    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.fidelity.bands import check_bands
    from retailsim.fidelity.facts import FACTS, compute_facts, format_value
    from retailsim.storage.dataset import Dataset

    try:
        ds = Dataset(dataset)
        report = compute_facts(ds)
    except RetailsimError as err:
        raise fail(str(err)) from None
    if json_out is not None and str(json_out) == "-":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        if json_out is not None:
            report.write_json(json_out)
        end = report.end.toordinal() - 1
        t = Table(
            title=f"Facts of {dataset} ({ds.kind}; {report.start} – {type(report.start).fromordinal(end)})",
            title_justify="left",
        )
        for col, just in (("fact", "left"), ("value", "right"), ("id", "left")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for f in FACTS:
            if f.kind == "scalar":
                t.add_row(f.label, format_value(f, report.get(f.id)), f.id)
        out.print(t)
        na = [f.id for f in FACTS if report.get(f.id) is None]
        if na:
            out.print(f"not available here: {', '.join(na)}", highlight=False)
        if json_out is not None:
            out.print(f"wrote every fact to {json_out}")
    if check:
        results = check_bands(report)
        bt = Table(title="Bands (FIDELITY.md)", title_justify="left")
        for col in ("fact", "value", "band", "status"):
            bt.add_column(col)
        style = {"ok": "green", "out": "bold red", "n/a": "dim"}
        for r in results:
            bt.add_row(r.band.name, r.value_text, r.band_text, f"[{style[r.status]}]{r.status}[/]")
        (out if str(json_out) != "-" else _stderr()).print(bt)
        bad = [r for r in results if r.status == "out"]
        if bad:
            raise fail(
                f"{len(bad)} fact(s) out of band: " + ", ".join(f"{r.band.name} {r.value_text}" for r in bad),
                1,
            )


def _stderr() -> Any:
    from retailsim.cli import console

    return console


def calibrate_cmd(
    log: Annotated[
        Path | None, typer.Argument(help="Real log file (imported on the fly) or an imported dataset folder.")
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Twin config (YAML) to write.")] = None,
    mapping: MapOpt = None,
    date_format: DateFormatOpt = None,
    delimiter: DelimiterOpt = None,
    drop_returns: DropReturnsOpt = False,
    example: ExampleOpt = None,
    customers: Annotated[
        int | None, typer.Option(min=1, help="Customers of the twin (default: as many as the log).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed written into the twin config.")] = 42,
    no_refine: Annotated[
        bool, typer.Option("--no-refine", help="Use the Pareto/NBD MLE as is (no simulated-moments polish).")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the estimates as JSON.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing twin config.")] = False,
) -> None:
    """Fit the simulator to a real log and write a twin config: retailsim generate --config twin.yaml."""
    from rich.table import Table

    from retailsim.cli import console, fail, out
    from retailsim.errors import OutputExistsError, RetailsimError
    from retailsim.fidelity.calibrate import calibrate, open_log_or_dataset

    if out_file is None:
        raise fail("--out is required")
    if out_file.exists() and not overwrite:
        raise fail(str(OutputExistsError(f"{out_file} already exists; pass --overwrite to replace it")))
    try:
        with (
            tempfile.TemporaryDirectory(prefix="retailsim-calibrate-") as work,
            _log_source(log, example, mapping, date_format) as (path, cols, dfmt, name),
        ):
            ds = open_log_or_dataset(
                path, work, mapping=cols, date_format=dfmt, delimiter=delimiter, drop_returns=drop_returns
            )
            with console.status("fitting (pymc-marketing Pareto/NBD + Gamma-Gamma, then simulated moments)…"):
                cal = calibrate(
                    ds, customers=customers, seed=seed, source=name or str(path), refine=not no_refine
                )
        cal.write(out_file, overwrite=overwrite)
        if json_out is not None:
            json_out.write_text(json.dumps(cal.summary(), indent=2, default=str) + "\n", encoding="utf-8")
    except RetailsimError as err:
        raise fail(str(err)) from None
    m, p, c = cal.pareto_nbd, cal.process, cal.config.customers
    t = Table(title=f"Twin of {cal.source}", title_justify="left")
    t.add_column("what")
    t.add_column("estimate")
    t.add_row("Pareto/NBD MLE (days)", f"r={m.r:.3g} α={m.alpha:.3g} s={m.s:.3g} β={m.beta:.3g}")
    t.add_row(
        "twin process",
        f"r={p.r:.3g} α={p.alpha:.3g} s={p.s:.3g} β={p.beta:.3g}; welcome ×{p.boost:.3g} for {p.days:.3g} d",
    )
    t.add_row(
        "purchase rate (per day)", f"mean {c.purchase_rate.mean:.4g}, shape {c.purchase_rate.shape:.3g}"
    )
    t.add_row(
        "dropout hazard (per day)", f"mean {c.lifetime_days.mean:.4g}, shape {c.lifetime_days.shape:.3g}"
    )
    if cal.gamma_gamma is not None:
        g = cal.gamma_gamma
        t.add_row("Gamma-Gamma spend", f"p={g.p:.3g} q={g.q:.3g} v={g.v:.3g}")
    t.add_row("basket (extra lines)", f"mean {c.basket_lines.mean:.3g}, shape {c.basket_lines.shape:.3g}")
    t.add_row("price scale", f"{cal.config.products.price_scale:.3g}")
    t.add_row(
        "acquisition",
        f"{c.count:,} customers, existing share {c.existing_share:g}, window "
        f"{c.signup_window_days or 'whole horizon'} days",
    )
    t.add_row("horizon", f"{cal.config.horizon.start} + {cal.config.horizon.months} months")
    out.print(t)
    for note in cal.notes:
        out.print(f"note: {note}", highlight=False)
    out.print(
        f"wrote {out_file}; next: retailsim generate --config {out_file} --out data/twin", highlight=False
    )


def compare_cmd(
    real: Annotated[Path, typer.Argument(help="Real (imported) dataset folder.")],
    synth: Annotated[Path, typer.Argument(help="Synthetic dataset folder (e.g. a calibrated twin).")],
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write the self-contained HTML report.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the comparison as JSON; - for stdout.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 unless the twin facts are within --tolerance (relative)."),
    ] = False,
    tolerance: Annotated[float, typer.Option(min=0.0, help="Relative tolerance of the twin check.")] = 0.10,
    no_tstr: Annotated[
        bool, typer.Option("--no-tstr", help="Skip the train-on-synthetic/test-on-real check.")
    ] = False,
) -> None:
    """Put a real and a synthetic dataset's facts side by side, with plots (self-contained HTML)."""
    from rich.table import Table

    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.fidelity.compare import compare
    from retailsim.fidelity.facts import format_value
    from retailsim.storage.dataset import Dataset

    try:
        cmp = compare(Dataset(real), Dataset(synth), tolerance=tolerance, tstr=not no_tstr)
        if html_out is not None:
            cmp.write_html(html_out)
    except RetailsimError as err:
        raise fail(str(err)) from None
    except ImportError as err:  # plotly is an optional extra
        raise fail(f"the HTML report needs plotly (pip install 'retailsim[app]'): {err}") from None
    if json_out is not None and str(json_out) == "-":
        sys.stdout.write(json.dumps(cmp.to_dict(), indent=2, default=str) + "\n")
    else:
        if json_out is not None:
            cmp.write_json(json_out)
        t = Table(title=f"{real} (real) vs {synth} (synthetic)", title_justify="left")
        for col, just in (
            ("fact", "left"),
            ("real", "right"),
            ("synthetic", "right"),
            ("rel. diff.", "right"),
            ("check", "left"),
        ):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in cmp.rows:
            mark = "" if not r.checked else ("[green]ok[/]" if r.ok else "[bold red]out[/]")
            rel = "" if r.rel_diff is None else f"{r.rel_diff:+.1%}"
            t.add_row(r.fact.label, format_value(r.fact, r.real), format_value(r.fact, r.synth), rel, mark)
        out.print(t)
        out.print(
            f"train on synthetic, test on real: {cmp.tstr.summary if cmp.tstr else cmp.tstr_note}",
            highlight=False,
        )
        for p in (html_out, json_out):
            if p is not None:
                out.print(f"wrote {p}")
    if check and not cmp.passed:
        raise fail(
            f"twin check failed: {len(cmp.failures)} fact(s) beyond ±{tolerance:.0%}: "
            + ", ".join(f"{r.fact.label} {_rel(r.rel_diff)}" for r in cmp.failures),
            1,
        )


def _rel(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1%}"
