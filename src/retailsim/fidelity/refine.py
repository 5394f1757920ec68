"""Simulated-moments polish of a Pareto/NBD fit, so that a twin reproduces the log's stylised facts.

The maximum-likelihood Pareto/NBD is the statistically right fit *if* the log is a Pareto/NBD process. Real
logs are not quite: CDNOW's customers buy again soon after their first purchase more often than the model
says and then fall silent (25% more repeat purchases in the signup month, 9% fewer in months 1–4), so the
MLE twin shows too many customers active three months after signup (+13% on CDNOW).

This step keeps the model family, adds the simulator's *welcome burst* (new customers buy ``boost`` times as
often for their first ``days`` days: ``customers.welcome``), and moves (r, s, β, boost, days) from the MLE
(no burst) to where the twin's facts are closest to the log's: the purchase-frequency distribution, mean
purchases, the repeat rate within 90 days, cohort retention at 1, 3, 6 and 12 months and the inter-purchase
time distribution (shares of gaps up to 7 days, the log's median and its 90th percentile) — the definitions
of :mod:`retailsim.fidelity.facts`. The objective is the mean squared *relative* deviation; the moments that
stand for the facts ``retailsim compare --check`` judges a twin on weigh :data:`HEADLINE_WEIGHT` times more.
α is not free: the twin's month factors rescale activity to the observed monthly totals, which fixes the rate
level.

The simulation is the generator's own process (Poisson purchases at λ × calendar intensity until an
exponential churn time, λ × boost during the welcome period, first purchase at signup, signups by intensity
within the acquisition window), vectorised in numpy with common random numbers: every candidate uses the
same uniforms and the same unit exponential inter-arrival gaps, so the objective is a deterministic function
that Nelder–Mead minimises in two stages (a small simulation, then a larger, less noisy one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SIM_CUSTOMERS = 16_000
MAX_EVENTS = 100  # repeat purchases simulated per customer at most (far above almost every real customer)
FREQ_POINTS = ((1, 1), (2, 2), (3, 3), (4, 6), (7, 10))
RETENTION_POINTS = (1, 3, 6, 12)


@dataclass(frozen=True)
class Moments:
    """The facts a twin is fitted to (and judged on): name → value, plus the gap thresholds used."""

    values: dict[str, float]
    gap_points: tuple[int, ...]
    headline: frozenset[str] = frozenset()


def moments_from_facts(facts: dict[str, Any], gap_cdf: dict[int, float]) -> Moments:
    """Moments of a real log from its facts (:func:`retailsim.fidelity.facts.compute_facts` values).

    ``gap_cdf`` maps a number of days g to the share of inter-purchase gaps ≤ g (taken at the log's median
    and 90th percentile gap, and at 7 days), which stands in for the median and p90 in a smooth way.
    Moments the log does not have (a retention month it does not observe) are left out.
    """
    values: dict[str, float] = {}
    freq = facts.get("frequency_distribution") or {}
    for lo, hi in FREQ_POINTS:
        values[f"freq_{lo}_{hi}"] = float(sum(freq.get(str(k), 0.0) for k in range(lo, hi + 1)))
    for key in ("purchases_per_customer_mean", "repeat_within_90d"):
        if facts.get(key) is not None:
            values[key] = float(facts[key])
    for k in RETENTION_POINTS:
        v = facts.get(f"cohort_retention_{k}m")
        if v is not None:
            values[f"ret_{k}"] = float(v)
    for g, share in gap_cdf.items():
        values[f"gap_le_{g}"] = float(share)
    median = facts.get("median_interpurchase_days")
    headline = {"freq_1_1", "purchases_per_customer_mean", "ret_3"}
    if median is not None:
        headline.add(f"gap_le_{round(float(median))}")
    kept = {k: v for k, v in values.items() if v > 0}
    return Moments(kept, tuple(sorted(gap_cdf)), frozenset(headline & set(kept)))


@dataclass(frozen=True)
class Params:
    """The twin's purchase process: Pareto/NBD (r, α, s, β) plus the welcome burst (boost, days)."""

    r: float
    alpha: float
    s: float
    beta: float
    boost: float = 1.0
    days: float = 30.0


@dataclass
class Process:
    """What the twin's process needs besides its :class:`Params`: calendar, acquisition window, horizon."""

    start: dt.date
    n_days: int
    signup_window_days: int | None
    intensity: Callable[[Params], np.ndarray]  # daily intensity of the twin with these parameters


class Simulator:
    """The twin's purchase process for ``n`` customers, with common random numbers."""

    def __init__(
        self, proc: Process, gap_points: tuple[int, ...], n: int = SIM_CUSTOMERS, seed: int = 1
    ) -> None:
        rng = np.random.default_rng(seed)
        self.proc, self.n, self.gap_points = proc, n, gap_points
        self.u = rng.random((4, n))
        self.cum_exp = np.cumsum(rng.exponential(size=(n, MAX_EVENTS)), axis=1)
        self.cum_exp_welcome = np.cumsum(rng.exponential(size=(n, MAX_EVENTS // 4)), axis=1)
        days = np.datetime64(proc.start, "D") + np.arange(proc.n_days)
        month = days.astype("datetime64[M]").astype(np.int64)
        self.month_of_day = month - month[0]
        # months wholly observed: those whose last day is inside the horizon
        last_day_month = (days + 1).astype("datetime64[M]") != days.astype("datetime64[M]")
        self.full_months = int(self.month_of_day[last_day_month].max() + 1) if last_day_month.any() else 0
        self.grid = np.arange(proc.n_days + 1, dtype=float)

    def _events(
        self, cum: np.ndarray, c_from: np.ndarray, c_to: np.ndarray, rate: np.ndarray, unit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Poisson events at ``rate × intensity`` between cumulative intensities ``c_from`` and ``c_to``."""
        target = c_from[:, None] + unit / np.maximum(rate, 1e-300)[:, None]
        live = target < c_to[:, None]
        cust, _ = np.nonzero(live)
        return cust, np.interp(target[live], cum, self.grid)

    def moments(self, p: Params) -> dict[str, float]:
        """The moments of :func:`moments_from_facts` for the twin with parameters ``p``."""
        from scipy.special import gammaincinv

        proc, u, n = self.proc, self.u, self.n
        cum = np.r_[0.0, np.cumsum(proc.intensity(p))]
        window = proc.n_days if proc.signup_window_days is None else min(proc.signup_window_days, proc.n_days)
        t0 = np.interp(u[0] * cum[window], cum, self.grid)  # signups by intensity in the window
        lam = gammaincinv(p.r, u[1]) / p.alpha
        mu = np.maximum(gammaincinv(p.s, u[2]) / p.beta, 1e-300)
        end = np.maximum(np.minimum(t0 + (-np.log(u[3])) / mu, proc.n_days), t0)
        c0 = np.interp(t0, self.grid, cum)
        cust, t = self._events(cum, c0, np.interp(end, self.grid, cum), lam, self.cum_exp)
        if p.boost > 1:
            c_w = np.interp(np.minimum(end, t0 + p.days), self.grid, cum)
            w_cust, w_t = self._events(cum, c0, c_w, lam * (p.boost - 1), self.cum_exp_welcome)
            cust, t = np.r_[cust, w_cust], np.r_[t, w_t]
        # every purchase: the first at signup, then the repeats, in time order per customer
        all_c = np.r_[np.arange(n), cust]
        all_t = np.r_[t0, t]
        order = np.lexsort((all_t, all_c))
        all_c, all_t = all_c[order], all_t[order]
        day = np.minimum(all_t.astype(np.int64), proc.n_days - 1)
        same = all_c[1:] == all_c[:-1]
        gaps = (day[1:] - day[:-1])[same]
        total = np.bincount(all_c, minlength=n)
        out: dict[str, float] = {}
        for lo, hi in FREQ_POINTS:
            out[f"freq_{lo}_{hi}"] = float(np.mean((total >= lo) & (total <= hi)))
        out["purchases_per_customer_mean"] = float(total.mean())
        first = np.r_[0, np.cumsum(total)[:-1]]  # index of each customer's first purchase
        d1 = day[first]
        d2 = np.where(total >= 2, day[np.minimum(first + 1, len(day) - 1)], np.iinfo(np.int64).max)
        eligible = d1 <= proc.n_days - 1 - 90
        if eligible.any():
            out["repeat_within_90d"] = float(np.mean((d2 - d1 <= 90)[eligible]))
        months = self.month_of_day[day]
        n_months = int(self.month_of_day[-1]) + 1
        active = np.zeros((n, n_months + max(RETENTION_POINTS) + 1), dtype=bool)
        active[all_c, months] = True
        m0 = self.month_of_day[d1]
        rows = np.arange(n)
        for k in RETENTION_POINTS:
            ok = m0 + k < self.full_months
            if ok.any():
                out[f"ret_{k}"] = float(active[rows[ok], m0[ok] + k].mean())
        for g in self.gap_points:
            out[f"gap_le_{g}"] = float(np.mean(gaps <= g)) if len(gaps) else 0.0
        return out


HEADLINE_WEIGHT = 4.0
"""Weight of the moments that stand for the facts ``retailsim compare --check`` judges a twin on (one-time
buyers, mean purchases, 3-month retention, median gap) relative to the shape moments."""


def objective(sim_values: dict[str, float], target: Moments) -> float:
    """Weighted mean squared relative deviation of the twin's moments from the log's.

    The moments behind the twin check (:data:`retailsim.fidelity.compare.TWIN_FACTS`) weigh
    :data:`HEADLINE_WEIGHT`, the others 1.
    """
    total = weights = 0.0
    for key, v in target.values.items():
        w = HEADLINE_WEIGHT if key in target.headline else 1.0
        total += w * ((sim_values.get(key, 0.0) - v) / v) ** 2
        weights += w
    return total / weights if weights else 0.0


WELCOME_STARTS: tuple[tuple[float, float], ...] = (
    (1.0, 30.0),
    (2.0, 30.0),
    (3.0, 14.0),
    (3.0, 30.0),
    (6.0, 14.0),
)


def refine(
    start: Params,
    target: Moments,
    proc: Process,
    *,
    evals: tuple[int, int] = (120, 40),
    sizes: tuple[int, int] = (6_000, 24_000),
) -> tuple[Params, float, float]:
    """Minimise :func:`objective` over (log r, log s, log β, log(boost − 1), log days) from ``start``.

    Two stages of Nelder–Mead: ``evals[0]`` evaluations on a ``sizes[0]``-customer simulation (the welcome
    burst starting from the best of :data:`WELCOME_STARTS`), then ``evals[1]`` on a larger, less noisy one.

    Returns
    -------
    tuple
        The refined :class:`Params`, the objective at ``start`` (no burst) and at the optimum (both on the
        larger simulation).
    """
    from scipy.optimize import minimize

    def params(x: np.ndarray) -> Params:
        r, s, b, extra, days = np.exp(np.clip(x, -8, 12))
        return Params(float(r), start.alpha, float(s), float(b), 1.0 + float(extra), float(days))

    def loss(sim: Simulator) -> Callable[[np.ndarray], float]:
        def f(x: np.ndarray) -> float:
            p = params(x)
            if not (0.02 <= p.r <= 50 and 0.02 <= p.s <= 50 and p.boost <= 50 and 1 <= p.days <= 365):
                return 1e9
            return objective(sim.moments(p), target)

        return f

    def x_of(boost: float, days: float) -> np.ndarray:
        return np.log([start.r, start.s, start.beta, max(boost - 1, 1e-3), days])

    coarse = loss(Simulator(proc, target.gap_points, sizes[0]))
    fine = loss(Simulator(proc, target.gap_points, sizes[1]))
    opts = {"xatol": 1e-3, "fatol": 1e-6}
    x = min((x_of(b, d) for b, d in WELCOME_STARTS), key=coarse)
    x = minimize(coarse, x, method="Nelder-Mead", options={"maxfev": evals[0], **opts}).x
    res = minimize(fine, x, method="Nelder-Mead", options={"maxfev": evals[1], **opts})
    f0 = fine(x_of(1.0, 30.0))
    if res.fun >= f0:
        return start, f0, f0
    return params(res.x), f0, float(res.fun)
