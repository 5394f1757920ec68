"""Closed forms of BG/NBD and Gamma-Gamma (numpy/scipy), shared by the baseline and the stacked features.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the Pareto/NBD model"
and "RFM and CLV: using iso-value curves for customer base analysis". Time is in days, purchases are purchase
days (several baskets on one day count once), spend is spend per purchase day.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["bgnbd_expected_purchases", "bgnbd_p_alive", "gamma_gamma_spend"]


def bgnbd_expected_purchases(
    params: dict[str, float], t: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Expected repeat purchases in the next ``t`` periods given (x, t_x, T) (Fader, Hardie & Lee 2005, eq. 10).

    Computed in log space where it can be; ``scipy.special.hyp2f1`` for the Gaussian hypergeometric term.
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    x, tx, T = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    lead = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    numer = (a + b + x - 1) / (a - 1) * (1 - lead * hyp)
    ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + tx)))
    denom = 1 + (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * ratio
    out = numer / denom
    return np.where(np.isfinite(out), np.maximum(out, 0.0), 0.0)


def gamma_gamma_spend(params: dict[str, float], frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """Expected spend per purchase given x repeat purchases of mean value m (Fader, Hardie & Lee 2005b)."""
    p, q, v = params["p"], params["q"], params["v"]
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    return (p * (v + x * m)) / (p * x + q - 1)


def bgnbd_p_alive(
    params: dict[str, float], frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """P(still active | x, t_x, T) under BG/NBD (1 for customers without a repeat purchase)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    x, tx, T = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + tx)))
    return np.where(x > 0, 1 / (1 + (a / np.maximum(b + x - 1, 1e-12)) * ratio), 1.0)
