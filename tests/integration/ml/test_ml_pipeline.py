"""Training, artifacts and serving on the tiny preset: backtest, champion, round trip, tampering, determinism,
predict-with-today, bad inputs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from retailsim.ml import metrics
from retailsim.ml.artifacts import CARD, CHAMPION, read_card
from retailsim.ml.basket import Basket, BasketItem
from retailsim.ml.clv import fit_clv
from retailsim.ml.config import MLConfig
from retailsim.ml.errors import (
    ArtifactError,
    AsOfError,
    BasketError,
    CustomerNotKnownYet,
    SchemaMismatchError,
    UnknownCustomerError,
    UnknownProductError,
    UnknownStoreError,
)
from retailsim.ml.features import bgnbd_rfm, build_features, data_range
from retailsim.ml.predict import Predictor, load_model
from retailsim.ml.train import TrainResult, train
from retailsim.storage.dataset import Dataset

AS_OF = dt.date(2024, 8, 31)  # last day of the tiny preset


def _test_frame(result: TrainResult, ds: Dataset, sequences: bool = True) -> pd.DataFrame:
    return build_features(
        ds,
        [dt.date.fromisoformat(result.report["cutoffs"]["test"])],
        result.predictor.spec,
        sequences=sequences,
    )


def test_backtest_leaderboard_and_champion(trained_tiny: TrainResult) -> None:
    r = trained_tiny.report
    names = [row["model"] for row in trained_tiny.leaderboard]
    # bgnbd was not asked for: BG/NBD + GG is on every leaderboard (the anchor users compare with)
    assert {
        "zero",
        "last30",
        "mean_daily",
        "bgnbd",
        "hurdle",
        "lr",
        "xgb",
        "gru",
        "ensemble",
        "oracle",
    } == set(names)
    # the champion is the lowest validation RMSE, never chosen on the test cutoff
    val = {n: m["validation"]["rmse"] for n, m in r["metrics"].items() if n not in ("oracle", "bgnbd")}
    assert trained_tiny.champion == min(val, key=val.__getitem__)
    oracle = next(row for row in trained_tiny.leaderboard if row["model"] == "oracle")
    last30 = next(row for row in trained_tiny.leaderboard if row["model"] == "last30")
    assert oracle["gap_closed"] == pytest.approx(1.0) and last30["gap_closed"] == pytest.approx(0.0)
    for row in trained_tiny.leaderboard:
        assert np.isfinite(row["rmse"]) and np.isfinite(row["mae"])
    unc = r["uncertainty"]["test"]
    assert 0 <= unc["brier"] < unc["brier_base_rate"]
    assert 0.5 < unc["interval_coverage"] <= 1.0
    assert abs(unc["interval_coverage"] - unc["interval_expected_coverage"]) < 0.15
    ens = r["metrics"]["ensemble"]["validation"]
    assert ens["rmse"] >= ens["rmse_in_sample"] - 1e-9  # cross-fitted, not in-sample
    paths = trained_tiny.report_paths
    html = paths["html"].read_text(encoding="utf-8")
    assert "<script" in html and "<script src=" not in html  # self-contained: plotly.js is inlined
    saved = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert saved["champion"] == trained_tiny.champion and "NaN" not in paths["json"].read_text(
        encoding="utf-8"
    )
    assert (trained_tiny.model_path.parent / CHAMPION).is_file()  # type: ignore[union-attr]
    # the stacked BG/NBD summaries are features of every model
    assert (
        trained_tiny.predictor.spec.bgnbd is not None and "bg_p_alive" in trained_tiny.predictor.spec.numeric
    )
    assert "bgnbd" in r["features"]["used"]


def test_artifacts_round_trip_bit_for_bit(trained_tiny: TrainResult, tiny_dataset: Dataset) -> None:
    loaded = load_model(trained_tiny.model_path.parent)  # type: ignore[union-attr]
    assert loaded.model_id == trained_tiny.predictor.model_id
    frame = _test_frame(trained_tiny, tiny_dataset)
    a = trained_tiny.predictor.predict_frame(frame)
    b = loaded.predict_frame(frame)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    card = read_card(trained_tiny.model_path)  # type: ignore[arg-type]
    assert card["dataset"]["manifest_sha256"] and card["libraries"]["xgboost"]
    assert card["cutoffs"]["test"] == trained_tiny.report["cutoffs"]["test"]
    no_pickle = [
        p for p in trained_tiny.model_path.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib", ".pt")
    ]  # type: ignore[union-attr]
    assert not no_pickle


@pytest.mark.parametrize("model", ["lr", "xgb", "gru", "hurdle", "zero", "last30", "mean_daily", "ensemble"])
def test_every_model_kind_round_trips(
    trained_tiny: TrainResult, tiny_dataset: Dataset, tmp_path: Path, model: str
) -> None:
    """Each model saved as if it were the champion reloads and predicts bit-for-bit."""
    from retailsim.ml.models import make_model

    p = trained_tiny.predictor
    frame = _test_frame(trained_tiny, tiny_dataset)
    fitted = {"hurdle": p.head}.get(model)
    if model == "ensemble":
        from retailsim.ml.models.ensemble import EnsembleModel

        parts = [m for m in (p.head, *getattr(p.model, "models_", [])) if m.name != "ensemble"]
        fitted = EnsembleModel.from_fitted(parts, np.linspace(0.3, 0.7, len(parts)))
    if fitted is None:
        m = make_model(model, MLConfig(), p.spec)
        train_frame = build_features(
            tiny_dataset, [dt.date(2024, 5, 31)], p.spec, labels=True, sequences=True
        )
        m.set_params(**({"epochs": 1, "hidden_size": 4, "static_size": 4} if model == "gru" else {}))
        if model == "xgb":
            m.set_params(n_estimators=10)
        fitted = m.fit(train_frame, train_frame["label"].to_numpy())
    pred = Predictor(fitted, p.head, p.spec, {**p.card, "model": model})
    folder = pred.save(tmp_path)
    again = load_model(folder)
    np.testing.assert_array_equal(
        pred.predict_frame(frame)["spend"].to_numpy(), again.predict_frame(frame)["spend"].to_numpy()
    )


def _copy_model(trained: TrainResult, tmp_path: Path) -> Path:
    dst = tmp_path / "m"
    shutil.copytree(trained.model_path, dst)  # type: ignore[arg-type]
    return dst


def test_tampered_artifacts_are_refused(trained_tiny: TrainResult, tmp_path: Path) -> None:
    folder = _copy_model(trained_tiny, tmp_path)
    target = next(p for p in sorted((folder / "model").iterdir()) if p.name != "params.json")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="modified"):
        load_model(folder)

    folder = _copy_model(trained_tiny, tmp_path / "b")
    (folder / "head" / "classifier.ubj").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_model(folder)

    folder = _copy_model(trained_tiny, tmp_path / "c")
    (folder / "model" / "evil.skops").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="unexpected"):
        load_model(folder)

    folder = _copy_model(trained_tiny, tmp_path / "d")
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    card["format_version"] = 99
    (folder / CARD).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ArtifactError, match="format version"):
        load_model(folder)

    (folder / CARD).write_text("{", encoding="utf-8")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_model(folder)
    with pytest.raises(ArtifactError, match="no model"):
        load_model(tmp_path / "nowhere")


def test_skops_refuses_untrusted_types(tmp_path: Path) -> None:
    import operator

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from retailsim.ml.models.sklearn_models import skops_load

    sio.dump(FunctionTransformer(operator.attrgetter("real")), tmp_path / "f.skops")
    with pytest.raises(ArtifactError, match="untrusted"):
        skops_load(tmp_path / "f.skops")


def test_training_is_deterministic_by_seed(tiny_dataset: Dataset, ml_config: Callable[..., MLConfig]) -> None:
    cfg = ml_config("hurdle,lr,rf,xgb,gru", "save=none", "report=false", "seed=5")
    a = train(tiny_dataset, cfg)
    b = train(tiny_dataset, cfg)
    for name in ("hurdle", "lr", "rf", "xgb", "gru"):
        assert a.report["metrics"][name]["test"]["rmse"] == b.report["metrics"][name]["test"]["rmse"], name
    frame = _test_frame(a, tiny_dataset)
    pd.testing.assert_frame_equal(
        a.predictor.predict_frame(frame), b.predictor.predict_frame(frame), check_exact=True
    )


def _basket_customer(ds: Dataset) -> tuple[int, int, list[tuple[int, float]]]:
    con = ds.connect()
    cid = con.execute(
        "SELECT customer_id FROM transactions WHERE customer_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]  # type: ignore[index]
    store = con.execute("SELECT min(store_id) FROM stores WHERE format = 'supermarket'").fetchone()[0]  # type: ignore[index]
    prods = con.execute("SELECT product_id, list_price FROM products ORDER BY product_id LIMIT 2").fetchall()
    con.close()
    return int(cid), int(store), [(int(p), float(lp)) for p, lp in prods]


def test_predict_with_today_equals_scoring_the_dataset_with_that_transaction(
    trained_tiny: TrainResult, tiny_dataset: Dataset, tmp_path: Path, rewrite: Callable[..., Dataset]
) -> None:
    from retailsim import schema

    cid, store, prods = _basket_customer(tiny_dataset)
    basket = Basket(
        store_id=store,
        items=[
            BasketItem(product_id=prods[0][0], quantity=3),  # list price
            BasketItem(product_id=prods[1][0], quantity=2, unit_price=9.99, discount_pct=0.25),
        ],
    )
    predictor = trained_tiny.predictor
    plain = predictor.predict_customer(tiny_dataset, cid, as_of=AS_OF)
    with_today = predictor.predict_customer(tiny_dataset, cid, as_of=AS_OF, today=basket)
    assert with_today.with_basket and not plain.with_basket
    assert (with_today.spend, with_today.p_buy) != (plain.spend, plain.p_buy)

    # the same transaction written into a copy of the dataset, computed here independently
    con = tiny_dataset.connect()
    next_id = con.execute("SELECT max(txn_id) + 1 FROM transactions").fetchone()[0]  # type: ignore[index]
    con.close()
    qty = np.array([3, 2])
    cents = np.array([round(prods[0][1] * 100), 999])
    gross = qty * cents
    disc = np.round(gross * np.array([0.0, 0.25])).astype(np.int64)
    head = pa.Table.from_pydict(
        {
            "txn_id": [next_id],
            "customer_id": [cid],
            "store_id": [store],
            "txn_ts": [dt.datetime(2024, 8, 31, 12)],
            "channel": ["in_store"],
            "payment_method": [None],
            "n_lines": [2],
            "n_items": [5],
            "gross_amount": [gross.sum() / 100],
            "discount_amount": [disc.sum() / 100],
            "total_amount": [(gross - disc).sum() / 100],
        },
        schema=schema.TRANSACTIONS.arrow_schema(),
    )
    lines = pa.Table.from_pydict(
        {
            "txn_id": [next_id] * 2,
            "line_no": [1, 2],
            "product_id": [prods[0][0], prods[1][0]],
            "quantity": qty.tolist(),
            "unit_price": (cents / 100).tolist(),
            "discount_pct": [0.0, 0.25],
            "discount_amount": (disc / 100).tolist(),
            "promotion_id": [None, None],
            "line_amount": ((gross - disc) / 100).tolist(),
        },
        schema=schema.TRANSACTION_LINES.arrow_schema(),
    )
    appended = rewrite(
        tiny_dataset, tmp_path / "appended", extra={"transactions": head, "transaction_lines": lines}
    )
    scored = predictor.score(appended, [cid], as_of=AS_OF).iloc[0]
    assert scored["status"] == "ok"
    assert (scored["spend"], scored["p_buy"], scored["lo"], scored["hi"]) == (
        with_today.spend,
        with_today.p_buy,
        with_today.lo,
        with_today.hi,
    )


def test_score_everyone_and_statuses(trained_tiny: TrainResult, tiny_dataset: Dataset) -> None:
    p = trained_tiny.predictor
    everyone = p.score(tiny_dataset)
    assert len(everyone) == tiny_dataset.rows("customers") - int(
        (
            pd.to_datetime(tiny_dataset.read("customers", ["signup_date"]).to_pandas()["signup_date"])
            > pd.Timestamp(AS_OF)
        ).sum()
    )
    assert (everyone["status"] == "ok").all() and (everyone["spend"] >= 0).all()
    assert ((everyone["p_buy"] >= 0) & (everyone["p_buy"] <= 1)).all() and (
        everyone["hi"] >= everyone["lo"]
    ).all()
    some = p.score(tiny_dataset, [1, "2", 10**9, "abc", 2.5], as_of=AS_OF)
    assert some["status"].tolist() == ["ok", "ok", "unknown_customer", "invalid_id", "invalid_id"]
    assert list(some.columns) == list(everyone.columns)
    assert some.loc[0, "spend"] == everyone.set_index("customer_id").loc[1, "spend"]
    one = p.predict_customer(tiny_dataset, 1, as_of=AS_OF)
    assert one.spend == some.loc[0, "spend"] and one.model_id == p.model_id
    assert one.segment in ("low", "medium", "high", "top") and one.drivers


def test_bad_inputs_give_specific_errors(
    trained_tiny: TrainResult, tiny_dataset: Dataset, cdnow: Dataset
) -> None:
    p = trained_tiny.predictor
    cid, store, prods = _basket_customer(tiny_dataset)
    item = {"product_id": prods[0][0], "quantity": 1}
    with pytest.raises(UnknownCustomerError):
        p.predict_customer(tiny_dataset, 10**9)
    with pytest.raises(UnknownCustomerError):
        p.predict_customer(tiny_dataset, "abc")
    with pytest.raises(UnknownProductError) as err:
        p.predict_customer(
            tiny_dataset,
            cid,
            today={"store_id": store, "items": [item, {"product_id": 999_999, "quantity": 1}]},
        )
    assert err.value.product_ids == [999_999] and err.value.lines == [1]
    with pytest.raises(UnknownStoreError):
        p.predict_customer(tiny_dataset, cid, today={"store_id": 9999, "items": [item]})
    with pytest.raises(BasketError, match="empty"):
        p.predict_customer(tiny_dataset, cid, today={"store_id": store, "items": []})
    with pytest.raises(BasketError, match="quantity"):
        p.predict_customer(tiny_dataset, cid, today={"store_id": store, "items": [{**item, "quantity": -2}]})
    with pytest.raises(BasketError, match="quantity"):
        p.predict_customer(
            tiny_dataset, cid, today={"store_id": store, "items": [{**item, "quantity": 10_000}]}
        )
    with pytest.raises(AsOfError, match="before the data"):
        p.predict_customer(tiny_dataset, cid, as_of="2023-06-30")
    with pytest.raises(AsOfError, match="after the data ends"):
        p.score(tiny_dataset, as_of="2025-01-31")
    with pytest.raises(AsOfError, match="not a date"):
        p.score(tiny_dataset, as_of="yesterday")
    late = tiny_dataset.read("customers", ["customer_id", "signup_date"]).to_pandas()
    late = late[pd.to_datetime(late["signup_date"]) > pd.Timestamp("2024-02-01")].iloc[0]
    with pytest.raises(CustomerNotKnownYet):
        p.predict_customer(tiny_dataset, int(late["customer_id"]), as_of="2024-01-31")
    with pytest.raises(SchemaMismatchError, match="trained on data with"):
        p.score(cdnow)


def test_imported_log_leaderboard(cdnow: Dataset, tmp_path: Path, ml_config: Callable[..., MLConfig]) -> None:
    result = train(cdnow, ml_config("zero,last30,mean_daily,hurdle,lr,xgb"), model_dir=tmp_path)
    names = {row["model"] for row in result.leaderboard}
    assert "oracle" not in names and {"last30", "xgb"} <= names
    assert "categories" in result.report["features"]["left_out"]
    scores = load_model(tmp_path).score(cdnow)
    assert len(scores) == cdnow.rows("customers") and scores["spend"].notna().all()
    assert metrics.rmse(np.zeros(1), np.zeros(1)) == 0.0


def test_bgnbd_is_the_anchor_on_every_leaderboard(
    cdnow: Dataset, tmp_path: Path, ml_config: Callable[..., MLConfig]
) -> None:
    """Not asked for (and not stacked as features): BG/NBD + GG is still fitted and reported, but neither
    the champion nor part of the blend; asked for, it competes."""
    r = train(cdnow, ml_config("zero,lr", "bgnbd_features=false", "save=none"))
    bg = next(row for row in r.leaderboard if row["model"] == "bgnbd")
    assert np.isfinite(bg["rmse"]) and np.isfinite(bg["mean_ratio"]) and "anchor" in bg["notes"]
    assert r.champion in {"zero", "lr", "ensemble"}
    assert "bgnbd" not in r.report["fit_info"].get("ensemble", {}).get("components", {})
    assert "bgnbd" in ml_config("fast").models  # in the default set too
    asked = train(cdnow, ml_config("zero,bgnbd", "bgnbd_features=false", "save=none", "ensemble=false"))
    assert asked.champion == "bgnbd"  # zero is the only rival on a log where a few buy
    assert "anchor" not in next(row for row in asked.leaderboard if row["model"] == "bgnbd")["notes"]


def test_the_other_models_train_save_and_reload(
    tiny_dataset: Dataset, tmp_path: Path, ml_config: Callable[..., MLConfig]
) -> None:
    """BG/NBD + GG (pymc-marketing), Tweedie, random forest, RNN, LSTM: trained, saved (save=all), reloaded."""
    from retailsim.ml.clv import bgnbd_expected_purchases, gamma_gamma_spend

    result = train(
        tiny_dataset,
        ml_config("zero,bgnbd,tweedie,rf,rnn,lstm", "save=all", "ensemble=false"),
        model_dir=tmp_path,
    )
    assert set(result.saved) == {"zero", "bgnbd", "tweedie", "rf", "rnn", "lstm"}
    frame = _test_frame(result, tiny_dataset)
    for name, folder in result.saved.items():
        loaded = load_model(folder)
        assert loaded.model.name == name
        again = loaded.predict_frame(frame)["spend"].to_numpy()
        assert np.all(np.isfinite(again)) and (again >= 0).all()
    # BG/NBD + GG serves its closed forms with the parameters fitted on the history up to the last day of data
    bg_model = load_model(result.saved["bgnbd"])
    served = bg_model.spec.bgnbd
    assert served is not None and served["fitted_at"] == str(data_range(tiny_dataset)[1])
    bought = frame["has_purchase"].to_numpy() > 0
    x, rec, age = (frame[c].to_numpy() for c in ("bg_frequency", "bg_recency", "bg_T"))
    expected = bgnbd_expected_purchases(served["bg"], 30.0, x, rec, age) * gamma_gamma_spend(
        served["gg"], x, frame["bg_monetary"].to_numpy()
    )
    np.testing.assert_allclose(bg_model.model.predict(frame)[bought], expected[bought], rtol=1e-12)
    # customers without a purchase get the cold-start constant, finite and non-negative
    cold = frame["has_purchase"] == 0
    assert cold.any()
    assert served["cold_start"] >= 0
    assert np.all(bg_model.model.predict(frame[cold]) == served["cold_start"])


def test_bgnbd_is_fitted_as_of_every_cutoff_and_bgboost_multiplies_it(
    tiny_dataset: Dataset, tmp_path: Path, ml_config: Callable[..., MLConfig]
) -> None:
    """BG/NBD + GG is refitted on the history up to each cutoff (what its users would have had that day);
    bgboost is its expectation times an XGBoost correction, saved and reloaded exactly."""
    from dataclasses import replace

    import xgboost as xgb

    from retailsim.ml.models.boosting import OFFSET_FLOOR

    result = train(
        tiny_dataset, ml_config("zero,bgnbd,bgboost", "save=all", "ensemble=false"), model_dir=tmp_path
    )
    by_cutoff = result.report["bgnbd"]["by_cutoff"]
    cuts = result.report["cutoffs"]
    assert set(by_cutoff) == {*cuts["train"], cuts["validation"], cuts["test"]}
    spec = result.predictor.spec
    plain = replace(spec, bgnbd=None)
    cfg = result.report["config"]
    for c in (cuts["train"][0], cuts["test"]):
        at_c = build_features(tiny_dataset, [dt.date.fromisoformat(c)], plain)
        again = fit_clv(bgnbd_rfm(at_c), max_customers=cfg["bgnbd"]["max_fit_customers"], seed=cfg["seed"])
        assert by_cutoff[c]["bg"] == again["bg"] and by_cutoff[c]["gg"] == again["gg"]
    assert by_cutoff[cuts["train"][0]]["bg"] != by_cutoff[cuts["test"]]["bg"]  # they do move with the data

    frame = _test_frame(result, tiny_dataset, sequences=False)
    model = load_model(result.saved["bgboost"])
    pred = model.predict_frame(frame)["spend"].to_numpy()
    np.testing.assert_array_equal(pred, result.models["bgboost"].predict(frame))
    m = model.model
    trees = m.booster_.predict(  # type: ignore[attr-defined]
        xgb.DMatrix(m.prep_.transform(frame), base_margin=np.zeros(len(frame))),
        output_margin=True,  # type: ignore[attr-defined]
    )
    base = frame["bg_expected_spend"].to_numpy() + OFFSET_FLOOR
    np.testing.assert_allclose(pred, base * np.exp(trees), rtol=1e-5)
