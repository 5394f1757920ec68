"""Next-30-day spend on a real log, measured the way a user meets it: truncate the log at a cutoff, import it,
train the default models, score everyone as of the cutoff (the last day the user has), and compare with what
the customers really spent in the 30 days after it.

The scoring date lies past every training cutoff (the backtest needs 30 days of labels after each), so this
measures what the backtest's leaderboard cannot: whether the level holds when the model extrapolates.

Per cutoff it prints RMSE, normalized Gini and mean predicted / actual for the champion and BG/NBD + Gamma-Gamma
side by side, and mean predicted / actual for every trained model. Default log: the shipped CDNOW sample at
its last three month-end cutoffs with 30 days of future (1998-03-31, 04-30, 05-31).

Usage: python benchmarks/bench_real.py [--log F --map customer_id=cust,... --date-format %Y%m%d]
       [--cutoffs 1998-03-31,1998-04-30,1998-05-31] [--models fast] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retailsim.fidelity.importer import import_log
from retailsim.ml import metrics
from retailsim.ml.config import build_ml_config
from retailsim.ml.predict import load_model
from retailsim.ml.train import train

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "tests" / "data" / "cdnow_sample" / "cdnow_sample.csv"
CDNOW_MAP = "customer_id=cust,timestamp=date,amount=dollars,quantity=cds"


def _read_log(path: Path, mapping: dict[str, str], date_format: str | None) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str)
    day = pd.to_datetime(raw[mapping["timestamp"]], format=date_format).dt.normalize()
    return raw.assign(_day=day)


def run_cutoff(
    raw: pd.DataFrame,
    mapping: dict[str, str],
    date_format: str | None,
    cutoff: dt.date,
    models: str,
    horizon: int,
    root: Path,
    sets: list[str] | None = None,
) -> dict[str, Any]:
    """Import the log up to ``cutoff``, train, score at ``cutoff`` and compare with the next ``horizon`` days."""
    cut = pd.Timestamp(cutoff)
    log = root / f"log-{cutoff}.csv"
    raw[raw["_day"] <= cut].drop(columns="_day").to_csv(log, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = import_log(log, root / f"ds-{cutoff}", mapping=mapping, date_format=date_format).dataset
    t0 = time.perf_counter()
    cfg = build_ml_config(sets=[f"models={models},bgnbd", "save=all", "report=false", *(sets or [])])
    result = train(ds, cfg, model_dir=root / f"models-{cutoff}")
    train_s = time.perf_counter() - t0
    future = raw[(raw["_day"] > cut) & (raw["_day"] <= cut + pd.Timedelta(days=horizon))]
    actual = future.groupby(mapping["customer_id"])[mapping["amount"]].apply(lambda s: pd.to_numeric(s).sum())
    rows: dict[str, dict[str, float]] = {}
    for name, folder in result.saved.items():
        scores = load_model(folder).score(ds, as_of=cutoff)
        y = actual.reindex(scores["external_id"].astype(str)).fillna(0.0).to_numpy(dtype=np.float64)
        p = scores["spend"].to_numpy(dtype=np.float64)
        rows[name] = {
            "rmse": metrics.rmse(y, p),
            "gini": metrics.normalized_gini(y, p),
            "mean_pred": float(p.mean()),
            "mean_actual": float(y.mean()),
            "ratio": float(p.mean() / y.mean()) if y.mean() > 0 else float("nan"),
        }
    return {
        "cutoff": str(cutoff),
        "customers": ds.rows("customers"),
        "train_cutoffs": result.report["cutoffs"],
        "champion": result.champion,
        "train_s": train_s,
        "models": rows,
    }


def summary(out: list[dict[str, Any]]) -> str:
    """Over all cutoffs: how often the level is within 0.85–1.15, the mean |log(predicted / actual)|, and how
    often the champion is at least as good as BG/NBD + GG on RMSE and Gini."""
    pairs = [(r["champion_vs_bgnbd"]["champion"], r["champion_vs_bgnbd"]["bgnbd"]) for r in out]
    n = len(pairs)

    def level(m: dict[str, float]) -> tuple[int, float]:
        return int(0.85 <= m["ratio"] <= 1.15), abs(float(np.log(m["ratio"])))

    ch = [level(c) for c, _ in pairs]
    bg = [level(b) for _, b in pairs]
    return (
        f"level within 0.85–1.15: champion {sum(a for a, _ in ch)}/{n}, BG/NBD+GG {sum(a for a, _ in bg)}/{n}; "
        f"mean |log(predicted/actual)|: champion {np.mean([b for _, b in ch]):.3f}, BG/NBD+GG "
        f"{np.mean([b for _, b in bg]):.3f}; champion RMSE <= BG/NBD+GG at "
        f"{sum(c['rmse'] <= b['rmse'] for c, b in pairs)}/{n}, Gini >= at {sum(c['gini'] >= b['gini'] for c, b in pairs)}/{n}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--log", type=Path, default=CDNOW, help="Transaction log CSV (default: the CDNOW sample)."
    )
    ap.add_argument("--map", default=CDNOW_MAP, help="field=column,… as for `retailsim import --map`.")
    ap.add_argument("--date-format", default="%Y%m%d", help="strptime format of the timestamp column.")
    ap.add_argument("--cutoffs", default="1998-03-31,1998-04-30,1998-05-31", help="Comma-separated dates.")
    ap.add_argument("--models", default="fast", help="Model set to train (bgnbd is always added).")
    ap.add_argument("--horizon", type=int, default=30)
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        help="ML setting, as for `retailsim ml train --set`.",
    )
    ap.add_argument("--json", type=Path, help="Also write the results as JSON.")
    args = ap.parse_args()
    mapping = dict(p.split("=", 1) for p in args.map.split(","))
    raw = _read_log(args.log, mapping, args.date_format)
    cutoffs = [dt.date.fromisoformat(c.strip()) for c in args.cutoffs.split(",")]
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        for c in cutoffs:
            r = run_cutoff(raw, mapping, args.date_format, c, args.models, args.horizon, Path(tmp), args.sets)
            out.append(r)
            ch, bg = r["models"][r["champion"]], r["models"]["bgnbd"]
            print(
                f"{c}: {r['customers']:,} customers; trained on {r['train_cutoffs']['train'][0]} … "
                f"{r['train_cutoffs']['train'][-1]} (validation {r['train_cutoffs']['validation']}, test "
                f"{r['train_cutoffs']['test']}) in {r['train_s']:.0f} s; champion {r['champion']}",
                flush=True,
            )
            print(
                "  mean predicted / actual: "
                + ", ".join(f"{n} {m['ratio']:.2f}" for n, m in r["models"].items())
            )
            r["champion_vs_bgnbd"] = {"champion": ch, "bgnbd": bg}
    print()
    print(
        "| cutoff | champion | champion RMSE | BG/NBD+GG RMSE | champion Gini | BG/NBD+GG Gini | champion pred/actual | BG/NBD+GG pred/actual |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in out:
        ch, bg = r["champion_vs_bgnbd"]["champion"], r["champion_vs_bgnbd"]["bgnbd"]
        print(
            f"| {r['cutoff']} | {r['champion']} | {ch['rmse']:.2f} | {bg['rmse']:.2f} | {ch['gini']:.3f} | "
            f"{bg['gini']:.3f} | {ch['ratio']:.2f} | {bg['ratio']:.2f} |"
        )
    print()
    print(summary(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
