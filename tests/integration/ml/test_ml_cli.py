"""`retailsim ml …` in-process: dataset, train, predict (with a basket), score, card; errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from retailsim.cli import app
from retailsim.storage.dataset import Dataset

from_here = CliRunner()

FAST = [
    "--set",
    "xgb.n_estimators=30",
    "--set",
    "xgb.early_stopping_rounds=5",
    "--set",
    "nn.epochs=1",
    "--set",
    "bgnbd_features=false",
]


def test_ml_commands_end_to_end(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = str(tiny_dataset.path)
    table = tmp_path / "table.parquet"
    res = from_here.invoke(
        app, ["ml", "dataset", ds, "--out", str(table), "--cutoffs", "2024-04-30,2024-05-31"]
    )
    assert res.exit_code == 0, res.output
    frame = pd.read_parquet(table)
    assert sorted(frame["cutoff"].dt.date.astype(str).unique()) == ["2024-04-30", "2024-05-31"]
    assert (frame["label"] == 0).any() and table.with_suffix(".features.json").is_file()

    models = tmp_path / "models"
    res = from_here.invoke(
        app, ["ml", "train", ds, "--models", "fast", "--model-dir", str(models), "-q", *FAST]
    )
    assert res.exit_code == 0, res.output
    assert "oracle" in res.output and "champion" in res.output and (models / "champion.json").is_file()

    res = from_here.invoke(app, ["ml", "predict", ds, "--customer", "7", "--model", str(models), "--json"])
    assert res.exit_code == 0, res.output
    plain = json.loads(res.output)
    assert plain["customer_id"] == 7 and 0 <= plain["p_buy"] <= 1 and plain["lo"] <= plain["hi"]

    con = tiny_dataset.connect()
    store, product = con.execute(
        "SELECT min(s.store_id), min(p.product_id) FROM stores s, products p"
    ).fetchone()  # type: ignore[misc]
    con.close()
    basket = tmp_path / "basket.json"
    basket.write_text(
        json.dumps({"store_id": store, "items": [{"product_id": product, "quantity": 4}]}), encoding="utf-8"
    )
    res = from_here.invoke(
        app, ["ml", "predict", ds, "--customer", "7", "--model", str(models), "--today", str(basket)]
    )
    assert res.exit_code == 0, res.output
    assert "with today" in res.output

    ids = tmp_path / "ids.csv"
    ids.write_text("customer_id\n1\n2\n999999\n", encoding="utf-8")
    scores = tmp_path / "scores.csv"
    res = from_here.invoke(
        app,
        [
            "ml",
            "score",
            ds,
            "--out",
            str(scores),
            "--customers",
            str(ids),
            "--as-of",
            "2024-07-31",
            "--model",
            str(models),
        ],
    )
    assert res.exit_code == 0, res.output
    s = pd.read_csv(scores)
    assert s["status"].tolist() == ["ok", "ok", "unknown_customer"] and "1 not scored" in res.output

    res = from_here.invoke(app, ["ml", "card", str(models)])
    assert res.exit_code == 0 and '"manifest_sha256"' in res.output


def test_ml_errors_are_one_clear_line(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = str(tiny_dataset.path)
    res = from_here.invoke(app, ["ml", "train", ds, "--models", "lr,catboost", "--model-dir", str(tmp_path)])
    assert res.exit_code == 2 and "unknown model" in res.output and "Traceback" not in res.output
    res = from_here.invoke(app, ["ml", "predict", ds, "--customer", "1", "--model", str(tmp_path / "none")])
    assert res.exit_code == 2 and "no model" in res.output
    bad = tmp_path / "basket.json"
    bad.write_text(json.dumps({"store_id": 1, "items": [{"product_id": 1, "quantity": 0}]}), encoding="utf-8")
    res = from_here.invoke(app, ["ml", "predict", ds, "--customer", "1", "--today", str(bad)])
    assert res.exit_code == 2 and "items[1].quantity" in res.output
    res = from_here.invoke(
        app, ["ml", "dataset", ds, "--out", str(tmp_path / "t.parquet"), "--cutoffs", "2024-13-01"]
    )
    assert res.exit_code == 2 and "not a date" in res.output
