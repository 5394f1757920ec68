"""Prediction commands: the 'ml' group (issue: Next-30-day spend prediction).

Commands only parse arguments, call :mod:`retailsim.ml` and print; every rule lives in the library.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

ml_app = typer.Typer(
    name="ml",
    help="Next-30-day spend prediction: build the modelling table, train and compare models, predict, score.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DatasetArg = Annotated[Path, typer.Argument(help="Dataset folder (generated or imported).")]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", "-m", help="Model folder or model directory. Default: <dataset>/models (champion)."
    ),
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Cutoff date YYYY-MM-DD (default: the last day of data).")
]


def _dates(text: str | None) -> list[dt.date] | None:
    if not text:
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            out.append(dt.date.fromisoformat(part))
        except ValueError:
            from retailsim.cli import fail

            raise fail(f"--cutoffs: {part!r} is not a date (YYYY-MM-DD)") from None
    return out


def _num(v: Any, spec: str) -> str:
    from retailsim.ml.report import fmt

    return fmt(v, spec)


@ml_app.command("dataset")
def dataset_cmd(
    dataset: DatasetArg,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Parquet file (default: <dataset>/ml/dataset.parquet).")
    ] = None,
    cutoffs: Annotated[
        str | None, typer.Option(help="Comma-separated cutoffs, e.g. 2024-03-31,2024-04-30.")
    ] = None,
    every: Annotated[
        str, typer.Option(help="Cutoff spacing when --cutoffs is not given: 1M, 2W, 14D …")
    ] = "1M",
    horizon: Annotated[int, typer.Option(min=1, max=365, help="Label window in days.")] = 30,
    sequences: Annotated[
        bool, typer.Option(help="Add the 52-week sequences (recurrent models' input).")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Build the modelling table: one row per (customer, cutoff), zero spenders included, label = net spend
    in the horizon after the cutoff; features only from data up to the cutoff."""
    from rich.table import Table

    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.ml.config import MLConfig
    from retailsim.ml.features import feature_report
    from retailsim.ml.train import dataset_table, save_json

    try:
        MLConfig(every=every)
    except ValueError as err:
        raise fail(f"--every: {err.errors()[0]['msg'] if hasattr(err, 'errors') else err}") from None  # type: ignore[attr-defined]
    target = out_file or dataset / "ml" / "dataset.parquet"
    if target.exists() and not overwrite:
        raise fail(f"{target} exists; pass --overwrite to replace it")
    try:
        frame, spec = dataset_table(
            dataset, cutoffs=_dates(cutoffs), every=every, horizon_days=horizon, sequences=sequences
        )
    except RetailsimError as err:
        raise fail(str(err)) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    frame.to_parquet(tmp, index=False, compression="zstd")
    tmp.replace(target)
    rep = feature_report(spec)
    save_json({"horizon_days": horizon, **rep}, target.with_suffix(".features.json"))
    t = Table(title=f"Modelling table → {target}", title_justify="left")
    for c in ("cutoff", "customers", "zero spend", "mean label"):
        t.add_column(c, justify="right")
    for cutoff, g in frame.groupby("cutoff", sort=True):
        t.add_row(
            str(cutoff.date()),  # type: ignore[attr-defined]
            f"{len(g):,}",
            f"{(g['label'] == 0).mean():.1%}",
            f"{g['label'].mean():.2f}",
        )
    out.print(t)
    out.print(
        f"{len(spec.features)} features in groups: {', '.join(spec.groups)}"
        + (f"; {len(spec.sequence_columns)} sequence columns" if sequences else ""),
        highlight=False,
    )
    for g, why in spec.left_out.items():
        out.print(f"  left out [bold]{g}[/]: {why}", highlight=False)


@ml_app.command("train")
def train_cmd(
    dataset: DatasetArg,
    models: Annotated[
        str | None,
        typer.Option(
            help="Models or sets, comma-separated: zero,last30,mean_daily,bgnbd,hurdle,tweedie,lr,rf,xgb,bgboost,"
            "rnn,lstm,gru; sets: fast (default), all, six, baselines, nn."
        ),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option("--model-dir", help="Where to save models and reports (default <dataset>/models)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="ML config YAML.", dir_okay=False)
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting: --set nn.epochs=5")
    ] = None,
    cutoffs: Annotated[str | None, typer.Option(help="Explicit cutoffs: training…,validation,test.")] = None,
    horizon: Annotated[
        int | None, typer.Option(min=1, max=365, help="Label window in days (default 30).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, max=256, help="Training threads (default 1).")] = None,
    refit: Annotated[bool, typer.Option(help="Refit the champion on every cutoff before saving.")] = False,
    save: Annotated[str, typer.Option(help="Save the champion, all models or none.")] = "champion",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the leaderboard.")] = False,
) -> None:
    """Backtest the models on time-ordered cutoffs, pick the champion on the validation cutoff, save it."""
    from retailsim.cli import console, fail, out
    from retailsim.errors import RetailsimError
    from retailsim.ml.config import build_ml_config
    from retailsim.ml.train import train

    sets = list(set_ or [])
    if models:
        sets.append(f"models={models}")
    if horizon is not None:
        sets.append(f"horizon_days={horizon}")
    if seed is not None:
        sets.append(f"seed={seed}")
    if threads is not None:
        sets.append(f"threads={threads}")
    if refit:
        sets.append("refit=true")
    if save not in ("champion", "all", "none"):
        raise fail("--save must be champion, all or none")
    sets.append(f"save={save}")
    try:
        cfg = build_ml_config(sets=sets, path=config)
        if cutoffs:
            cfg = cfg.model_copy(update={"cutoffs": tuple(_dates(cutoffs) or ())})
            cfg = type(cfg).model_validate(cfg.model_dump())
        with console.status("training…", spinner="dots") as status:

            def say(msg: str) -> None:
                status.update(msg)
                if not quiet:
                    console.print(f"[dim]·[/] {msg}", highlight=False)

            result = train(dataset, cfg, model_dir=model_dir, progress=say)
    except RetailsimError as err:
        raise fail(str(err)) from None
    except ValueError as err:  # pydantic validation of --cutoffs
        raise fail(str(err)) from None
    print_leaderboard(result.report, out)
    if result.model_path:
        out.print(f"champion [bold]{result.champion}[/] saved to {result.model_path}", highlight=False)
    for kind, path in result.report_paths.items():
        out.print(f"{kind} report: {path}", highlight=False)


def print_leaderboard(report: dict[str, Any], console: Any) -> None:
    """The leaderboard as a Rich table (champion in bold, oracle dimmed)."""
    from rich import box
    from rich.table import Table

    from retailsim.ml.report import COLUMNS

    c = report["cutoffs"]
    t = Table(
        title=f"Next-{c['horizon_days']}-day spend, test cutoff {c['test']} "
        f"(champion picked on {c['validation']}: {report['champion']})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    cols = [c for c in COLUMNS if c[2]]
    for key, _, short, _ in cols:
        t.add_column(short, justify="left" if key == "model" else "right", no_wrap=True)
    for r in report["leaderboard"]:
        style = "bold" if r["model"] == report["champion"] else ("dim" if r["model"] == "oracle" else None)
        t.add_row(*(_num(r.get(k), f) for k, _, _, f in cols), style=style)
    console.print(t)
    unc = report.get("uncertainty", {}).get("test")
    if unc:
        console.print(
            f"P(buy): Brier {unc['brier']:.4f} (base rate alone {unc['brier_base_rate']:.4f}), mean "
            f"{unc['mean_p_buy']:.1%} vs {unc['buy_rate']:.1%} bought. {unc['interval_nominal']:.0%} interval: "
            f"coverage {unc['interval_coverage']:.1%} (model-implied {unc.get('interval_expected_coverage', float('nan')):.1%}: "
            "an interval is [0, 0] where not buying alone is likelier than the nominal level).",
            highlight=False,
        )
    console.print(
        "[dim]top10: share of actual spend by the 10% predicted highest; p/a: mean predicted / mean actual; "
        "gap: share of the RMSE gap between last-30-days and the oracle closed; vRMSE: validation RMSE. "
        "Spearman and scoring times: leaderboard.json / report.html.[/]",
        highlight=False,
    )
    for r in report["leaderboard"]:
        if r.get("notes"):
            console.print(f"  {r['model']}: {r['notes']}", highlight=False)
    for g, why in report.get("features", {}).get("left_out", {}).items():
        console.print(f"  feature group {g} left out: {why}", highlight=False)


@ml_app.command("predict")
def predict_cmd(
    dataset: DatasetArg,
    customer: Annotated[
        str,
        typer.Option(
            "--customer",
            help="Customer id; on an imported log also the source system's id (external_id), which wins "
            "when both read the same.",
        ),
    ],
    as_of: AsOfOpt = None,
    today: Annotated[
        Path | None,
        typer.Option(
            "--today", help="Today's basket as JSON: {store_id, items: [{product_id, quantity, …}]}."
        ),
    ] = None,
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the prediction as JSON.")] = False,
) -> None:
    """Predict one customer's spend in the next horizon, with P(buy) and an interval."""
    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.ml.basket import Basket
    from retailsim.ml.predict import load_model

    try:
        basket = Basket.from_file(today) if today is not None else None
        predictor = load_model(model or dataset)
        p = predictor.predict_customer(dataset, customer, as_of=as_of, today=basket)
    except RetailsimError as err:
        raise fail(str(err)) from None
    if as_json:
        out.print_json(p.model_dump_json())
        return
    end = p.as_of + dt.timedelta(days=p.horizon_days)
    who = f"customer {p.customer_id}" + (f" (source id {p.external_id})" if p.external_id else "")
    out.print(
        f"{who}: expected spend {p.spend:,.2f} from {p.as_of + dt.timedelta(days=1)} to {end}"
        f"{' (with today’s basket)' if p.with_basket else ''}\n"
        f"  P(any purchase) {p.p_buy:.1%}; {p.interval:.0%} interval {p.lo:,.2f} – {p.hi:,.2f}; segment {p.segment}\n"
        f"  model {p.model_id}",
        highlight=False,
    )
    if p.drivers:
        out.print(
            "  drivers: "
            + ", ".join(
                f"{d.feature}={d.value if isinstance(d.value, str) else round(d.value, 2)}" for d in p.drivers
            ),
            highlight=False,
        )


def _read_ids(path: Path) -> list[Any]:
    import pandas as pd

    from retailsim.errors import InputDataError

    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    except (OSError, ValueError) as err:
        raise InputDataError(f"cannot read: {err}", file=str(path)) from None
    if "customer_id" in frame.columns:  # as typed: CSV text (a source id wins), Parquet integers (surrogate)
        return frame["customer_id"].tolist()
    if "external_id" in frame.columns:
        return [None if pd.isna(v) else str(v) for v in frame["external_id"].tolist()]
    raise InputDataError(
        "needs a customer_id column (or external_id: the source system's ids)",
        file=str(path),
        column="customer_id",
    )


@ml_app.command("score")
def score_cmd(
    dataset: DatasetArg,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv.")],
    as_of: AsOfOpt = None,
    customers: Annotated[
        Path | None,
        typer.Option(
            help="CSV/Parquet with a customer_id column, or external_id with an imported log's source ids "
            "(default: everyone known at as-of)."
        ),
    ] = None,
    model: ModelOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Score many customers: predicted spend, P(buy), interval, segment; a status per unscorable id."""
    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.ml.predict import load_model

    if out_file.suffix not in (".parquet", ".csv"):
        raise fail("--out must end in .parquet or .csv")
    if out_file.exists() and not overwrite:
        raise fail(f"{out_file} exists; pass --overwrite to replace it")
    try:
        ids = _read_ids(customers) if customers is not None else None
        predictor = load_model(model or dataset)
        scores = predictor.score(dataset, ids, as_of=as_of)
    except RetailsimError as err:
        raise fail(str(err)) from None
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.name}.partial")
    if out_file.suffix == ".parquet":
        scores.to_parquet(tmp, index=False)
    else:
        scores.to_csv(tmp, index=False)
    tmp.replace(out_file)
    ok = scores["status"] == "ok"
    out.print(
        f"scored {int(ok.sum()):,} customers as of {scores['as_of'].iloc[0].date() if len(scores) else as_of} with "
        f"{predictor.model_id}: total expected spend {scores.loc[ok, 'spend'].sum():,.2f}; wrote {out_file}",
        highlight=False,
    )
    bad = scores.loc[~ok, "status"].value_counts()
    for status, n in bad.items():
        out.print(f"  {n:,} not scored: {status}", highlight=False)


@ml_app.command("card")
def card_cmd(
    model: Annotated[Path, typer.Argument(help="Model folder, model directory or dataset folder.")],
) -> None:
    """Print a saved model's card (verifying every file's checksum)."""
    from retailsim.cli import fail, out
    from retailsim.errors import RetailsimError
    from retailsim.ml.artifacts import read_card, resolve_model_folder

    try:
        card = read_card(resolve_model_folder(model))
    except RetailsimError as err:
        raise fail(str(err)) from None
    out.print_json(json.dumps(card, default=str))


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""
    app.add_typer(ml_app)
