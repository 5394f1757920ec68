"""Closed forms, preprocessing and the degenerate fits of the models, on small synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retailsim.ml.clv import bgnbd_expected_purchases, bgnbd_p_alive, gamma_gamma_spend
from retailsim.ml.models.baselines import Last30Model, MeanDailyModel, ZeroModel
from retailsim.ml.models.boosting import HurdleModel
from retailsim.ml.preprocess import OTHER, Preprocessor


def test_bgnbd_matches_the_published_cdnow_example() -> None:
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way": x=2, t_x=30.43, T=38.86 weeks
    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    e = bgnbd_expected_purchases(params, 39, np.array([2.0]), np.array([30.43]), np.array([38.86]))
    assert e[0] == pytest.approx(1.226, abs=5e-4)
    # a customer seen only once, long ago, is expected to buy less than a recent one
    old, new = bgnbd_expected_purchases(params, 39, np.array([0.0, 0.0]), np.zeros(2), np.array([70.0, 1.0]))
    assert 0 < old < new
    alive = bgnbd_p_alive(
        params, np.array([2.0, 2.0, 0.0]), np.array([30.43, 5.0, 0.0]), np.array([38.86] * 3)
    )
    assert 0 < alive[1] < alive[0] < 1 and alive[2] == 1.0


def test_gamma_gamma_prior_mean_and_shrinkage() -> None:
    params = {"p": 6.25, "q": 3.74, "v": 15.44}
    prior = params["p"] * params["v"] / (params["q"] - 1)
    assert gamma_gamma_spend(params, np.array([0.0]), np.array([0.0]))[0] == pytest.approx(prior)
    many = gamma_gamma_spend(params, np.array([1000.0]), np.array([80.0]))[0]
    assert many == pytest.approx(80.0, rel=0.01)


def _frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cutoff": pd.Timestamp("2024-05-31"),
            "customer_id": np.arange(1, n + 1),
            "has_purchase": np.zeros(n),
            "spend_30": np.zeros(n),
            "daily_spend_all": np.zeros(n),
            "x1": rng.normal(size=n),
            "city": rng.choice(["a", "b", "c"], n),
        }
    )


def test_baselines_and_hurdle_on_all_zero_customers() -> None:
    rng = np.random.default_rng(1)
    X = _frame(200, rng)
    y = np.zeros(200)
    for model in (ZeroModel(), Last30Model(), MeanDailyModel()):
        assert np.array_equal(model.fit(X, y).predict(X), np.zeros(200))
    h = HurdleModel(numeric=("x1",), categorical=("city",), n_estimators=5).fit(X, y, X, y)
    assert h.fit_info()["degenerate"]
    assert np.array_equal(h.predict(X), np.zeros(200))
    assert np.array_equal(h.predict_proba_buy(X), np.zeros(200))
    lo, hi = h.predict_interval(X)
    assert np.array_equal(lo, np.zeros(200)) and np.array_equal(hi, np.zeros(200))


def test_hurdle_interval_is_ordered_and_p_buy_is_a_probability() -> None:
    rng = np.random.default_rng(2)
    X = _frame(600, rng)
    buy = rng.random(600) < 1 / (1 + np.exp(-2 * X["x1"].to_numpy()))
    y = np.where(buy, rng.gamma(2.0, 20.0, 600), 0.0)
    h = HurdleModel(numeric=("x1",), categorical=("city",), n_estimators=30, seed=3).fit(
        X[:400], y[:400], X[400:], y[400:]
    )
    p = h.predict_proba_buy(X)
    lo, hi = h.predict_interval(X)
    assert ((p >= 0) & (p <= 1)).all()
    assert (lo >= 0).all() and (hi >= lo).all()
    assert np.all(np.isfinite(h.predict(X)))


def test_preprocessor_json_round_trip_and_unseen_levels() -> None:
    rng = np.random.default_rng(3)
    X = _frame(50, rng)
    p = Preprocessor(["x1", "spend_30"], ["city"], log=True, scale=True).fit(X)
    q = Preprocessor.from_json(p.to_json())
    assert np.array_equal(p.transform(X), q.transform(X))
    assert p.levels["city"] == ["a", "b", "c", OTHER]
    unseen = X.head(2).assign(city="zzz")
    onehot = q.transform(unseen)[:, -4:]
    assert onehot[:, -1].tolist() == [1.0, 1.0]  # __other__
