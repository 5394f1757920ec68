"""Evaluation metrics: exact values on small cases and the degenerate cases of retail data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retailsim.ml import metrics


def test_rmse_mae() -> None:
    y, p = np.array([0.0, 2.0, 4.0]), np.array([1.0, 2.0, 2.0])
    assert metrics.rmse(y, p) == pytest.approx(math.sqrt(5 / 3))
    assert metrics.mae(y, p) == pytest.approx(1.0)


def test_gini_perfect_random_and_constant() -> None:
    rng = np.random.default_rng(0)
    y = rng.gamma(0.5, 20, 2000) * (rng.random(2000) < 0.4)
    assert metrics.normalized_gini(y, y) == pytest.approx(1.0)
    assert metrics.normalized_gini(y, 2 * y + 1) == pytest.approx(1.0)  # only the order counts
    assert metrics.normalized_gini(y, -y) < -0.9
    assert metrics.normalized_gini(y, np.zeros_like(y)) == pytest.approx(0.0, abs=1e-12)
    assert abs(metrics.normalized_gini(y, rng.random(2000))) < 0.1


def test_top_decile_capture_splits_ties() -> None:
    y = np.arange(1, 101, dtype=float)
    assert metrics.top_share_capture(y, y, 0.1) == pytest.approx(y[-10:].sum() / y.sum())
    # a constant prediction captures 10% in expectation
    assert metrics.top_share_capture(y, np.ones(100), 0.1) == pytest.approx(0.1)


def test_degenerate_cases_return_nan_without_warnings() -> None:
    zeros = np.zeros(50)
    p = np.linspace(0, 1, 50)
    assert math.isnan(metrics.normalized_gini(zeros, p))
    assert math.isnan(metrics.spearman(zeros, p))
    assert math.isnan(metrics.spearman(p, np.ones(50)))
    assert math.isnan(metrics.top_share_capture(zeros, p))
    m = metrics.point_metrics(zeros, np.zeros(50))
    assert m["rmse"] == 0 and math.isnan(m["mean_ratio"])
    assert math.isnan(metrics.rmse(np.zeros(0), np.zeros(0)))


def test_calibration_by_decile_and_deciles() -> None:
    p = np.arange(100, dtype=float)
    d = metrics.deciles(p)
    assert d.min() == 0 and d.max() == 9 and np.bincount(d).tolist() == [10] * 10
    cal = metrics.calibration_by_decile(p, p)
    assert len(cal) == 10 and all(c["mean_pred"] == c["mean_actual"] for c in cal)


def test_gap_closed() -> None:
    assert metrics.gap_closed(80.0, 100.0, 60.0) == pytest.approx(0.5)
    assert metrics.gap_closed(60.0, 100.0, 60.0) == pytest.approx(1.0)
    assert math.isnan(metrics.gap_closed(80.0, 100.0, None))


def test_uncertainty_metrics() -> None:
    y = np.array([0.0, 0.0, 5.0, 10.0])
    p_buy = np.array([0.0, 0.0, 1.0, 1.0])
    m = metrics.uncertainty_metrics(y, p_buy, np.array([0, 0, 4, 20.0]), np.array([0, 1, 6, 30.0]), 0.8)
    assert m["brier"] == 0.0
    assert m["interval_coverage"] == pytest.approx(0.75)
    assert m["buy_rate"] == 0.5
