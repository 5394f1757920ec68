"""Evaluation metrics: accuracy, ranking, calibration, P(buy) and interval checks.

Every function handles the degenerate cases of retail data (all-zero actuals, constant predictions) without
warnings: undefined values come back as ``nan``. Ties in the predictions are handled as if broken at random
(in expectation), so a constant prediction has a Gini of 0 and a top-decile capture of 10%.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(p) - np.asarray(y)) ** 2))) if len(y) else float("nan")


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(p) - np.asarray(y)))) if len(y) else float("nan")


def _gini(y: np.ndarray, score: np.ndarray) -> float:
    """Gini of ``y`` ordered by ``score`` (average ranks for ties): 2·Σ y·rank / (n·Σ y) − (n + 1) / n."""
    n, total = len(y), float(np.sum(y))
    if n == 0 or total == 0:
        return float("nan")
    r = stats.rankdata(score, method="average")
    return float(2 * np.sum(y * r) / (n * total) - (n + 1) / n)


def normalized_gini(y: np.ndarray, p: np.ndarray) -> float:
    """Gini of the predictions divided by the Gini of a perfect ranking (1 = perfect, 0 = random)."""
    y = np.asarray(y, dtype=np.float64)
    best = _gini(y, y)
    if not np.isfinite(best) or best == 0:
        return float("nan")
    return _gini(y, np.asarray(p, dtype=np.float64)) / best


def spearman(y: np.ndarray, p: np.ndarray) -> float:
    """Spearman rank correlation; ``nan`` when either side is constant."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if len(y) < 2 or np.ptp(y) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(stats.spearmanr(y, p).statistic)


def top_share_capture(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Share of actual spend by the ``share`` of customers predicted highest (ties split pro rata)."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    total = y.sum()
    if len(y) == 0 or total == 0:
        return float("nan")
    k = share * len(y)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    # groups of tied predictions, highest first
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ends = np.r_[starts[1:], len(ps)]
    sums = np.add.reduceat(ys, starts)
    taken, got = 0.0, 0.0
    for s, e, gs in zip(starts, ends, sums, strict=True):
        size = e - s
        if taken + size <= k:
            taken += size
            got += gs
        else:
            got += gs * (k - taken) / size
            break
    return float(got / total)


def deciles(p: np.ndarray) -> np.ndarray:
    """Decile (0 = lowest) of each prediction by rank (ties broken by position, deterministic)."""
    n = len(p)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(np.asarray(p), kind="stable")
    d = np.empty(n, dtype=np.int64)
    d[order] = np.arange(n) * 10 // n
    return d


def per_decile(score: np.ndarray, **columns: Callable[[np.ndarray], float]) -> list[dict[str, float]]:
    """One row per non-empty decile of ``score`` (low to high): ``decile`` (1–10), ``n`` and each of ``columns``
    applied to the decile's boolean mask."""
    d = deciles(score)
    out: list[dict[str, float]] = []
    for k in range(10):
        m = d == k
        if m.any():
            out.append({"decile": k + 1, "n": int(m.sum()), **{name: f(m) for name, f in columns.items()}})
    return out


def calibration_by_decile(y: np.ndarray, p: np.ndarray) -> list[dict[str, float]]:
    """Mean predicted and mean actual in each predicted decile (low to high)."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    return per_decile(p, mean_pred=lambda m: float(p[m].mean()), mean_actual=lambda m: float(y[m].mean()))


def brier(bought: np.ndarray, p_buy: np.ndarray) -> float:
    b = np.asarray(bought, dtype=np.float64)
    return float(np.mean((np.asarray(p_buy) - b) ** 2)) if len(b) else float("nan")


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actuals inside ``[lo, hi]`` (a little slack for float rounding)."""
    y = np.asarray(y, dtype=np.float64)
    if not len(y):
        return float("nan")
    eps = 1e-9
    return float(np.mean((y >= np.asarray(lo) - eps) & (y <= np.asarray(hi) + eps)))


def point_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, normalised Gini, Spearman, top-decile capture, mean ratio and calibration by decile."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    mean_y = float(y.mean()) if len(y) else float("nan")
    return {
        "n": len(y),
        "rmse": rmse(y, p),
        "mae": mae(y, p),
        "gini": normalized_gini(y, p),
        "spearman": spearman(y, p),
        "top_decile_capture": top_share_capture(y, p, 0.1),
        "mean_pred": float(p.mean()) if len(p) else float("nan"),
        "mean_actual": mean_y,
        "mean_ratio": float(p.mean() / mean_y) if len(p) and mean_y else float("nan"),
        "calibration": calibration_by_decile(y, p),
    }


def gap_closed(rmse_model: float, rmse_last30: float, rmse_oracle: float | None) -> float:
    """(RMSE_last30 − RMSE_model) / (RMSE_last30 − RMSE_oracle): 1 = as good as the oracle, 0 = no better
    than last month's spend (``nan`` without an oracle)."""
    if rmse_oracle is None or not np.isfinite(rmse_oracle) or rmse_last30 == rmse_oracle:
        return float("nan")
    return float((rmse_last30 - rmse_model) / (rmse_last30 - rmse_oracle))


def uncertainty_metrics(
    y: np.ndarray, p_buy: np.ndarray, lo: np.ndarray, hi: np.ndarray, nominal: float
) -> dict[str, Any]:
    """Brier score and calibration of P(buy); empirical coverage (overall and by predicted decile) and mean
    width of the interval."""
    y = np.asarray(y, dtype=np.float64)
    bought = (y > 0).astype(np.float64)
    calib = per_decile(
        p_buy, mean_p=lambda m: float(np.mean(p_buy[m])), rate=lambda m: float(bought[m].mean())
    )
    base = float(bought.mean()) if len(bought) else float("nan")
    cov_dec = per_decile(
        hi, coverage=lambda m: coverage(y[m], lo[m], hi[m]), mean_hi=lambda m: float(np.mean(hi[m]))
    )
    return {
        "brier": brier(bought, p_buy),
        "brier_base_rate": brier(bought, np.full(len(bought), base)) if len(bought) else float("nan"),
        "buy_rate": base,
        "mean_p_buy": float(np.mean(p_buy)) if len(p_buy) else float("nan"),
        "p_buy_calibration": calib,
        "interval_nominal": nominal,
        "interval_coverage": coverage(y, lo, hi),
        "interval_mean_width": float(np.mean(np.asarray(hi) - np.asarray(lo))) if len(y) else float("nan"),
        "coverage_by_upper_decile": cov_dec,
    }
