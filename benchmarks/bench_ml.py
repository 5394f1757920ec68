"""Spend-prediction speed, measured in one run (the machine is shared and noisy; quote the printed numbers).

(a) dataset build: the backtest's modelling table (every default cutoff, labels, the 52-week sequences) over
    the `medium` preset (~10M line items, 100k customers). Goal: < 60 s.
(b) all models on the `demo` preset: `retailsim ml train --models all` end to end (features, 12 models and
    baselines, the blend, the oracle, reports, saving). Goal: < 10 min on a 2-core CPU.
(c) scoring 1M customers: the saved champion of (b) and the fast models' champion predict P(buy), interval,
    segment and spend for 1M feature rows — the 100k medium customers' real feature rows repeated 10 times
    (a 1M-customer dataset would be the 100M-line `large` preset). Goal: < 60 s. Also the real end-to-end
    ``Predictor.score`` of the 100k medium customers (features from the raw data included).

Usage: python benchmarks/bench_ml.py [--data DIR] [--skip-train] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd

from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.ml.config import build_ml_config
from retailsim.ml.features import build_features, data_range, plan_cutoffs, plan_features
from retailsim.ml.predict import Predictor, load_model
from retailsim.ml.train import train
from retailsim.storage.dataset import Dataset


def _dataset(root: Path, preset: str) -> Dataset:
    path = root / preset
    if (path / "manifest.json").is_file():
        return Dataset(path)
    t0 = time.perf_counter()
    ds = generate(build_config(preset), path, workers=2)
    print(f"generated {preset}: {ds.rows('transaction_lines'):,} lines in {time.perf_counter() - t0:.1f} s")
    return ds


def _score_1m(predictor: Predictor, frame: pd.DataFrame, label: str) -> float:
    big = pd.concat([frame] * max(1, -(-1_000_000 // len(frame))), ignore_index=True).iloc[:1_000_000]
    t0 = time.perf_counter()
    out = predictor.predict_frame(big)
    s = time.perf_counter() - t0
    print(f"(c) scoring 1,000,000 customers with {label}: {s:.1f} s ({len(out) / s:,.0f} customers/s)")
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, help="Folder to keep the generated datasets in (default: a temp dir)."
    )
    ap.add_argument(
        "--skip-train", action="store_true", help="Skip (b); (c) then trains only the fast models."
    )
    ap.add_argument("--threads", type=int, default=1, help="Training threads (default 1).")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-ml-")
    root = args.data or Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, float] = {}

    medium = _dataset(root, "medium")
    spec = plan_features(medium)
    plan = plan_cutoffs(medium, train_cutoffs=12)
    t0 = time.perf_counter()
    frame = build_features(medium, plan.all, spec, labels=True, sequences=True)
    results["dataset_build_s"] = time.perf_counter() - t0
    print(
        f"(a) dataset build over {medium.rows('transaction_lines'):,} lines: {len(frame):,} rows × "
        f"{frame.shape[1]} columns ({len(plan.all)} cutoffs, labels, sequences) in {results['dataset_build_s']:.1f} s "
        f"(goal < 60 s)"
    )
    del frame

    demo = _dataset(root, "demo")
    models_dir = root / "demo-models"
    if not args.skip_train:
        t0 = time.perf_counter()
        result = train(
            demo,
            build_ml_config(sets=["models=all", f"threads={args.threads}"]),
            model_dir=models_dir / "all",
        )
        results["train_all_demo_s"] = time.perf_counter() - t0
        fits = ", ".join(
            f"{n} {v['fit_s']:.0f}" for n, v in result.report["timing"]["models"].items() if v["fit_s"] >= 1
        )
        print(
            f"(b) all models on demo: {results['train_all_demo_s']:.0f} s (goal < 600 s); champion {result.champion}; "
            f"features {result.report['timing']['features_s']:.1f} s; fit s: {fits}"
        )
    fast = train(
        demo, build_ml_config(sets=["models=fast", f"threads={args.threads}"]), model_dir=models_dir / "fast"
    )
    print(f"    fast models on demo: {fast.report['timing']['total_s']:.0f} s; champion {fast.champion}")

    _, end = data_range(medium)
    for label, folder in (
        ("fast champion", models_dir / "fast"),
        ("all-models champion", models_dir / "all"),
    ):
        if not (folder / "champion.json").is_file():
            continue
        predictor = load_model(folder)
        rows = build_features(medium, [end], predictor.spec, sequences=predictor.model.needs_sequences)
        key = "score_1m_s" if label == "fast champion" else "score_1m_all_s"
        results[key] = _score_1m(predictor, rows, f"{label} {predictor.model.name}")
    predictor = load_model(models_dir / "fast")
    t0 = time.perf_counter()
    scores = predictor.score(medium, as_of=end)
    results["score_medium_e2e_s"] = time.perf_counter() - t0
    print(
        f"    end to end: Predictor.score of all {len(scores):,} medium customers as of {end} "
        f"(features from 10M lines + prediction): {results['score_medium_e2e_s']:.1f} s"
    )
    t0 = time.perf_counter()
    one = predictor.predict_customer(medium, int(scores["customer_id"].iloc[0]), as_of=end)
    print(
        f"    one customer (predict_customer) on medium: {time.perf_counter() - t0:.2f} s → {one.spend:.2f}"
    )
    print({k: round(v, 1) for k, v in results.items()}, f"({dt.datetime.now():%Y-%m-%d %H:%M})")
    tmp.cleanup()


if __name__ == "__main__":
    main()
