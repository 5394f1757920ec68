"""Data-quality commands: validate (issue: Data quality)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""
    app.command()(validate)


def validate(
    datasets: Annotated[
        list[Path], typer.Argument(help="Dataset folder(s); several give a trend in --html.")
    ],
    html: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report (docs/quality.md).")
    ] = None,
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine", help="Write passing rows to a clean dataset, failing rows to quarantine/."
        ),
    ] = False,
    clean_out: Annotated[
        Path | None, typer.Option("--clean-out", help="Clean dataset folder (default: DATASET-clean).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing clean dataset folder.")] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML quality config (limits, tolerances).", dir_okay=False),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a quality setting: --set age.max=95")
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="YAML file of extra rules (SQL predicates).", dir_okay=False),
    ] = None,
    findings: Annotated[
        Path | None, typer.Option("--findings", help="Write every failing (row, rule) to this Parquet file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the status line.")] = False,
) -> None:
    """Check datasets against the schema contracts and the cross-table rules.

    Exit code 0: no errors (warnings allowed); 1: errors found; 2: could not run (missing files, unreadable
    Parquet or CSV, schema mismatch, bad config or rule).
    """
    import pyarrow.parquet as pq

    from retailsim.cli import console, fail, out
    from retailsim.config import parse_set
    from retailsim.errors import RetailsimError
    from retailsim.quality.config import build_quality_config, load_quality_config
    from retailsim.quality.engine import run_validation
    from retailsim.quality.render import print_summary, render_html
    from retailsim.quality.rules import load_user_rules
    from retailsim.quality.truth import Scorecard, score
    from retailsim.storage.dataset import Dataset

    if quarantine and len(datasets) > 1:
        raise fail("--quarantine takes one dataset")
    if clean_out is not None and not quarantine:
        raise fail("--clean-out needs --quarantine")
    reports, cards = [], []
    try:
        qc = load_quality_config(config) if config else build_quality_config()
        if set_:
            data = qc.model_dump(mode="json")
            for item in set_:
                key, _, value = item.partition("=")
                parts = key.split(".")
                if parts[0] == "ranges" and len(parts) == 4:  # ranges.<table>.<column>.<min|max>=v
                    item = f"ranges.{parts[1]}__{parts[2]}.{parts[3]}={value}"
                data = _merge(data, parse_set(item))
            data["ranges"] = {k.replace("__", "."): v for k, v in data.get("ranges", {}).items()}
            qc = build_quality_config(data, source="--set")
        extra = load_user_rules(rules) if rules else None
        for path in datasets:
            ds = Dataset(path)
            target = (clean_out or path.with_name(path.name + "-clean")) if quarantine else None
            with console.status(f"[bold]validate[/] {path}", spinner="dots") as status:
                report = run_validation(
                    ds,
                    qc,
                    user_rules=extra,
                    quarantine_to=target,
                    overwrite=overwrite,
                    on_progress=lambda s, st=status, p=path: st.update(f"[bold]validate[/] {p}: {s}"),
                )
            card: Scorecard | None = score(report, ds) if ds.has("defects") else None
            reports.append(report)
            cards.append(card)
            if quiet:
                out.print(
                    f"{path}: {report.status} ({len(report.errors)} errors, {len(report.warnings)} warnings)"
                )
            else:
                print_summary(report, out, scorecard=card)
    except RetailsimError as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    if html:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(reports, cards), encoding="utf-8")
        console.print(f"wrote {html}")
    if json_out:
        import json

        json_out.parent.mkdir(parents=True, exist_ok=True)
        doc = (
            reports[0].to_dict()
            if len(reports) == 1
            else {"report_version": 1, "runs": [r.to_dict() for r in reports]}
        )
        json_out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}")
    if findings:
        import pyarrow as pa

        findings.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables([r.findings for r in reports]), findings, compression="zstd")
        console.print(f"wrote {findings}")
    raise typer.Exit(max(r.exit_code for r in reports))


def _merge(base: dict, extra: dict) -> dict:  # type: ignore[type-arg]
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
