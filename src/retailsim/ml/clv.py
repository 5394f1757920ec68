"""BG/NBD and Gamma-Gamma: closed forms and maximum-likelihood fits (numpy/scipy), shared by the baseline, the
stacked features and the BG/NBD-based booster.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the Pareto/NBD model"
and "RFM and CLV: using iso-value curves for customer base analysis". Time is in days, purchases are purchase
days (several baskets on one day count once), spend is spend per purchase day.

The fits maximise the models' log-likelihoods — the same expressions as pymc-marketing's ``BetaGeoNBD.logp`` and
``GammaGammaModel`` (tested equal) — written in numpy: a fit is needed at every backtest cutoff, and numpy
evaluates them about 70× faster than pymc-marketing's likelihood compiled by pytensor (no C compiler mode),
and without its priors (plain maximum likelihood, as in the papers; the tests recover the published CDNOW
estimates).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "MIN_FIT_CUSTOMERS",
    "bgnbd_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "fit_bgnbd",
    "fit_clv",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_spend",
]

#: Fewer customers with a purchase than this: no fit, neutral parameters (see :func:`fit_clv`).
MIN_FIT_CUSTOMERS = 10


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


# -------------------------------------------------------------------------------------------------------
# likelihoods and fits
# -------------------------------------------------------------------------------------------------------
def bgnbd_log_likelihood(
    params: dict[str, float], frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) under BG/NBD (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    x, tx, T = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    d1 = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    d2 = r * math.log(alpha) - (r + x) * np.log(alpha + tx)
    c3 = np.exp((r + x) * (np.log(alpha + tx) - np.log(alpha + T)))
    c4 = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300), 0.0)
    return d1 + d2 + np.log(c3 + c4)


def gamma_gamma_log_likelihood(
    params: dict[str, float], frequency: np.ndarray, monetary: np.ndarray
) -> np.ndarray:
    """Log-likelihood of each repeat buyer's mean spend ``m`` over ``x`` purchases (Fader, Hardie & Lee 2005b,
    eq. 1a; the likelihood of pymc-marketing's ``GammaGammaModel``)."""
    p, q, v = params["p"], params["q"], params["v"]
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * math.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def _maximise(names: tuple[str, ...], loglik: Any, start: np.ndarray) -> dict[str, float] | None:
    """Maximise ``loglik(dict of parameters)`` over the logs of the positive parameters ``names`` (L-BFGS-B,
    restarted once from its own optimum); None when it does not reach a finite optimum."""

    def nll(theta: np.ndarray) -> float:
        if not np.all(np.isfinite(theta)) or np.any(np.abs(theta) > 30):
            return 1e300
        with np.errstate(all="ignore"):
            value = -float(np.sum(loglik(dict(zip(names, np.exp(theta), strict=True)))))
        return value if math.isfinite(value) else 1e300

    res = optimize.minimize(nll, start, method="L-BFGS-B")
    res = optimize.minimize(nll, res.x, method="L-BFGS-B")
    if not math.isfinite(res.fun) or res.fun >= 1e299:
        return None
    return {k: float(v) for k, v in zip(names, np.exp(res.x), strict=True)}


def fit_bgnbd(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> dict[str, float] | None:
    """Maximum-likelihood BG/NBD parameters ``r, alpha, a, b`` from repeat purchases ``x``, the time of the last
    purchase ``t_x`` and the age ``T`` of each customer; None when the fit fails."""
    x, tx, T = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    rate = x.sum() / max(float(T.sum()), 1e-9)
    start = np.log([0.5, 0.5 / max(rate, 1e-9), 1.0, 1.0])
    return _maximise(("r", "alpha", "a", "b"), lambda p: bgnbd_log_likelihood(p, x, tx, T), start)


def fit_gamma_gamma(frequency: np.ndarray, monetary: np.ndarray) -> dict[str, float] | None:
    """Maximum-likelihood Gamma-Gamma parameters ``p, q, v`` from repeat buyers (``x`` ≥ 1, mean repeat spend
    ``m`` > 0; other rows are ignored); None when fewer than :data:`MIN_FIT_CUSTOMERS` remain or the fit fails."""
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    keep = (x > 0) & (m > 0)
    if keep.sum() < MIN_FIT_CUSTOMERS:
        return None
    x, m = x[keep], m[keep]
    start = np.log([2.0, 3.0, max(float(m.mean()), 1e-6) * 2.0])
    return _maximise(("p", "q", "v"), lambda p: gamma_gamma_log_likelihood(p, x, m), start)


def fit_clv(rfm: pd.DataFrame, *, max_customers: int | None = None, seed: int = 0) -> dict[str, Any]:
    """BG/NBD and Gamma-Gamma fitted on the RFM summary of one date (customers with a purchase).

    ``rfm`` has ``frequency`` (repeat purchase days), ``recency`` and ``T`` (days) and ``monetary_value``
    (mean spend of repeat days). At most ``max_customers`` rows are used, drawn by ``seed``. With too few
    customers (or a failed fit) the parameters are neutral: a BG/NBD that expects the population's repeat rate
    and a Gamma-Gamma at the mean spend.

    Returns
    -------
    dict
        ``{"bg": {r, alpha, a, b}, "gg": {p, q, v}, "customers": n, "fallback": [...]}`` (JSON-able).
    """
    if max_customers is not None and len(rfm) > max_customers:
        rng = np.random.default_rng(seed)
        rfm = rfm.iloc[np.sort(rng.choice(len(rfm), max_customers, replace=False))]
    x, tx, T, m = (rfm[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T", "monetary_value"))
    fallback: list[str] = []
    bg = fit_bgnbd(x, tx, T) if len(rfm) >= MIN_FIT_CUSTOMERS and x.sum() > 0 else None
    if bg is None:
        rate = float(x.sum() / max(T.sum(), 1.0)) if len(rfm) else 0.0
        bg = {
            "r": 1.0,
            "alpha": 1.0 / max(rate, 1e-6),
            "a": 2.0,
            "b": 1e6,
        }  # Poisson at the rate, ~no dropout
        fallback.append("bg")
    gg = fit_gamma_gamma(x, m)
    if gg is None:
        mean = float(m[x > 0].mean()) if (x > 0).any() else 0.0
        gg = {"p": 1.0, "q": 2.0, "v": mean}  # E[spend] = mean for everyone
        fallback.append("gg")
    return {"bg": bg, "gg": gg, "customers": len(rfm), "fallback": fallback}
