"""Calibrate the simulator's behavioural parameters to a real log: the config of a synthetic twin.

What is fitted, and how:

* **purchase rate and dropout** — the simulator *is* a Pareto/NBD process (Poisson purchases at a gamma-
  distributed rate λ, exponential lifetime with a gamma-distributed hazard μ, first purchase at signup).
  Its four parameters (r, α, s, β) are estimated by maximum likelihood on each customer's (x repeat
  purchases, t_x time of the last, T time observed) using **pymc-marketing's** Pareto/NBD log-likelihood
  (:class:`pymc_marketing.clv.distributions.ParetoNBD`, numerically stable hypergeometric terms), compiled
  once by pytensor and maximised with scipy. ``λ ~ Gamma(r, α)`` and ``μ ~ Gamma(s, β)`` map one-to-one onto
  ``customers.purchase_rate`` and ``customers.lifetime_days`` (mean = shape / rate, shape).
* **spend level and heterogeneity** — the **Gamma-Gamma** model, fitted by maximum likelihood with
  :func:`retailsim.ml.clv.fit_gamma_gamma` (the likelihood of pymc-marketing's ``GammaGammaModel``, tested
  equal to it, and the published CDNOW estimates, in numpy). Without quantities in the log its
  customer-level spend CV sets the spread of basket sizes; the spend level is matched exactly by
  ``products.price_scale``, found with one pilot shard of the twin simulated by the generator itself.
* **basket sizes** — with quantities: items per transaction − 1 is Poisson around a per-customer gamma mean
  (method of moments on customer means); with real multi-line baskets: lines per transaction the same way
  and units per line as ``baskets.extra_quantity_mean``.
* **seasonality** — weekday weights = transactions per calendar day of each weekday; then one factor per
  calendar month of the log (``seasonality.month_factors``) = observed / model-expected repeat purchases in
  that month (shrunk towards 1), so the twin's month-by-month activity is the log's: season, campaigns and,
  for a log of one acquisition cohort, the cohort's ageing that the Pareto/NBD does not capture. The smooth
  yearly cycle, December lift and holidays of the default config are switched off (the factors hold them).
* **welcome burst and polish** — the MLE is then refined by simulated moments
  (:mod:`retailsim.fidelity.refine`): (r, s, β) and the welcome burst (``customers.welcome``: new customers
  buying more often in their first days) move so that the twin's frequency distribution, cohort retention
  and inter-purchase times match the log's; ``refine=False`` keeps the MLE.
* **acquisition** — customers signed up before the observed period give ``existing_share`` (0 for an
  imported log, where signup = first purchase); new customers sign up within ``signup_window_days`` of the
  start (the span of first purchases, or the whole horizon when they keep arriving), by shopping intensity.
* **the rest** — anonymous share from the log; one store per kind and every store format filling baskets
  alike (a log has no formats); the product catalogue is the grocery taxonomy (its own products when the
  log has them) with prices scaled; no promotions unless the dataset has some.

Why pymc-marketing and not its ``ParetoNBDModel.fit()``: the full model's MAP fit compiles a PyMC graph with
gradients of the hypergeometric function (~40 s on CDNOW); compiling only the log-likelihood in pytensor's
``FAST_COMPILE`` mode and running scipy's Nelder–Mead on the four log-parameters gives the same maximum in
about 2 s, with the maintained, tested likelihood (no hand-rolled Pareto/NBD algebra).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retailsim.config import SimConfig, build_config, dump_config
from retailsim.errors import DatasetError, OutputExistsError, RetailsimError
from retailsim.fidelity.facts import observed_period
from retailsim.fidelity.refine import Params
from retailsim.storage.dataset import Dataset

MIN_CUSTOMERS = 30  # fewer repeat-purchase histories than this cannot support a fit
PILOT_CUSTOMERS = 4000
SHRINK = 20.0  # pseudo-purchases shrinking a month's activity factor towards 1
DEFAULT_TWIN_PRODUCTS = 3000


class CalibrationError(RetailsimError):
    """The log cannot support a calibration (too few customers, no repeat purchases, no fitting library)."""


@dataclass(frozen=True)
class ParetoNBDFit:
    """Pareto/NBD parameters (time unit: days): λ ~ Gamma(r, α), μ ~ Gamma(s, β)."""

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float
    customers: int

    @property
    def purchase_rate_mean(self) -> float:
        """Mean purchases per day while alive (r / α)."""
        return self.r / self.alpha

    @property
    def dropout_mean(self) -> float:
        """Mean dropout hazard per day (s / β)."""
        return self.s / self.beta


@dataclass(frozen=True)
class GammaGammaFit:
    """Gamma-Gamma spend model: a transaction's value ~ Gamma(p, ν), ν ~ Gamma(q, v) across customers."""

    p: float
    q: float
    v: float
    customers: int

    @property
    def mean_spend(self) -> float | None:
        """Population mean of customers' mean transaction value, p·v / (q − 1) (None when q ≤ 1)."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else None

    @property
    def spend_cv(self) -> float | None:
        """Coefficient of variation of customers' mean spend across customers, 1/√(q − 2) (None if q ≤ 2)."""
        return 1 / math.sqrt(self.q - 2) if self.q > 2 else None


@dataclass
class Calibration:
    """A calibrated twin config and everything that was estimated on the way."""

    config: SimConfig
    source: str
    pareto_nbd: ParetoNBDFit  # maximum likelihood
    process: Params  # what the twin uses: the MLE (no welcome burst), or its simulated-moments polish
    gamma_gamma: GammaGammaFit | None
    basket: dict[str, float]
    seasonality: dict[str, Any]
    acquisition: dict[str, Any]
    spend: dict[str, float]
    refinement: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        """The twin config as YAML (``retailsim generate --config``), with the estimates as comments."""
        p, q = self.pareto_nbd, self.process
        head = [
            f"# Synthetic twin of {self.source}, written by `retailsim calibrate` (retailsim.fidelity).",
            f"# Pareto/NBD MLE (pymc-marketing likelihood, days): r={p.r:.4g} alpha={p.alpha:.4g} s={p.s:.4g} "
            f"beta={p.beta:.4g} on {p.customers:,} customers (log-likelihood {p.log_likelihood:.1f})",
        ]
        if self.refinement:
            head.append(
                f"# twin process (simulated-moments polish): r={q.r:.4g} alpha={q.alpha:.4g} s={q.s:.4g} "
                f"beta={q.beta:.4g}, welcome boost={q.boost:.3g} for {q.days:.3g} days (moment distance "
                f"{self.refinement['objective_mle']:.3g} at the MLE -> {self.refinement['objective']:.3g})"
            )
        if self.gamma_gamma is not None:
            g = self.gamma_gamma
            head.append(
                f"# Gamma-Gamma spend: p={g.p:.4g} q={g.q:.4g} v={g.v:.4g} on {g.customers:,} customers"
            )
        head.append(f"# basket: {_fmt_dict(self.basket)}")
        head.append(f"# spend: {_fmt_dict(self.spend)}")
        head.append(f"# acquisition: {_fmt_dict(self.acquisition)}")
        head += [f"# note: {n}" for n in self.notes]
        return "\n".join(head) + "\n" + dump_config(self.config)

    def write(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Write :meth:`to_yaml` to ``path`` (refused if it exists unless ``overwrite``)."""
        p = Path(path)
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} already exists; pass --overwrite to replace it")
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.partial")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        tmp.replace(p)

    def summary(self) -> dict[str, Any]:
        """Plain-data view of the estimates (for JSON and printing)."""
        return {
            "source": self.source,
            "pareto_nbd": asdict(self.pareto_nbd),
            "process": asdict(self.process),
            "refinement": self.refinement,
            "gamma_gamma": asdict(self.gamma_gamma) if self.gamma_gamma else None,
            "basket": self.basket,
            "seasonality": self.seasonality,
            "acquisition": self.acquisition,
            "spend": self.spend,
            "notes": self.notes,
        }


def _fmt_dict(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


# --------------------------------------------------------------------------------------------------------
# model fits (pymc-marketing likelihoods + scipy)
# --------------------------------------------------------------------------------------------------------


def _pymc_marketing() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # import-time deprecation chatter of the pymc stack
            import pymc_marketing.clv as clv
    except ImportError as err:  # pragma: no cover - environment without the ml extra
        raise CalibrationError(
            f"calibrate needs pymc-marketing (pip install 'retailsim[ml]'): {err}"
        ) from None
    return clv


def pareto_nbd_nll(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> Any:
    """Negative log-likelihood of the Pareto/NBD as a function of ``log([r, α, s, β])``.

    pymc-marketing's ``ParetoNBD.logp`` compiled by pytensor in ``FAST_COMPILE`` mode (no C compiler
    needed, compiles in well under a second); non-finite values are returned as 1e300.
    """
    clv = _pymc_marketing()
    import pytensor
    import pytensor.tensor as pt

    theta = pt.dvector("theta")
    r, alpha, s, beta = (pt.exp(theta[i]) for i in range(4))
    value = pt.stack([pt.as_tensor(np.asarray(t_x, float)), pt.as_tensor(np.asarray(x, float))], axis=-1)
    logp = clv.distributions.ParetoNBD.logp(value, r, alpha, s, beta, pt.as_tensor(np.asarray(T, float)))
    f = pytensor.function([theta], -pt.sum(logp), mode="FAST_COMPILE")

    def nll(v: np.ndarray) -> float:
        out = float(f(np.asarray(v, dtype=float)))
        return out if math.isfinite(out) else 1e300

    return nll


def fit_pareto_nbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> ParetoNBDFit:
    """Maximum-likelihood Pareto/NBD on repeat purchases ``x``, last purchase ``t_x`` and age ``T`` (days).

    Uses pymc-marketing's ``ParetoNBD.logp`` (:func:`pareto_nbd_nll`) and scipy's Nelder–Mead on the four
    log-parameters, restarted once from its own optimum.

    Raises
    ------
    CalibrationError
        Fewer than :data:`MIN_CUSTOMERS` customers, no repeat purchase at all, or no convergence.
    """
    from scipy.optimize import minimize

    x, t_x, T = (np.asarray(a, dtype=float) for a in (x, t_x, T))
    if len(x) < MIN_CUSTOMERS or x.sum() == 0:
        raise CalibrationError(
            f"a Pareto/NBD fit needs at least {MIN_CUSTOMERS} customers and some repeat purchases "
            f"(got {len(x)} customers, {int(x.sum())} repeat purchases)"
        )
    nll = pareto_nbd_nll(x, t_x, T)
    rate = x.sum() / max(T.sum(), 1e-9)
    start = np.log([0.5, 0.5 / max(rate, 1e-9), 0.5, max(float(np.mean(T)), 1.0)])
    opts = {"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-7}
    res = minimize(nll, start, method="Nelder-Mead", options=opts)
    res = minimize(nll, res.x, method="Nelder-Mead", options=opts)
    if not math.isfinite(res.fun) or res.fun >= 1e299:
        raise CalibrationError("the Pareto/NBD fit did not converge")
    r_, a_, s_, b_ = (float(v) for v in np.exp(res.x))
    return ParetoNBDFit(r_, a_, s_, b_, -float(res.fun), len(x))


def fit_gamma_gamma(frequency: np.ndarray, monetary_value: np.ndarray) -> GammaGammaFit | None:
    """Maximum-likelihood Gamma-Gamma on customers with repeat purchases (``frequency`` ≥ 1) and their mean
    repeat-transaction value (> 0) (:func:`retailsim.ml.clv.fit_gamma_gamma`); None if fewer than
    :data:`MIN_CUSTOMERS` such customers or no fit."""
    from retailsim.ml import clv

    n = int(((np.asarray(frequency) > 0) & (np.asarray(monetary_value) > 0)).sum())
    if n < MIN_CUSTOMERS:
        return None
    est = clv.fit_gamma_gamma(frequency, monetary_value)
    return None if est is None else GammaGammaFit(est["p"], est["q"], est["v"], n)


# --------------------------------------------------------------------------------------------------------
# reading what the fits need (DuckDB)
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Log:
    ds: Dataset
    start: dt.date
    end: dt.date
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    first_day: np.ndarray  # day of first purchase, days since start (customers fitted)
    repeat_days: np.ndarray  # day of every repeat purchase of those customers
    all_days: np.ndarray  # day of every transaction (weekday profile)
    existing_share: float
    customers: int
    anonymous_share: float
    mean_txn_value: float
    gg_frequency: np.ndarray
    gg_monetary: np.ndarray
    stores: int
    products: int
    has_promotions: bool


def _read(ds: Dataset) -> _Log:
    con = ds.connect()
    try:
        start, end = observed_period(ds, con)
        has_signup = ds.has_column("customers", "signup_date")
        signup = "c.signup_date" if has_signup else "f.first_ts::DATE"
        con.execute(f"""
            CREATE TEMP TABLE _cust AS
            WITH f AS (SELECT customer_id, count(*) AS n, min(txn_ts) AS first_ts, max(txn_ts) AS last_ts
                       FROM transactions WHERE customer_id IS NOT NULL GROUP BY customer_id)
            SELECT f.*, {signup} AS signup FROM f {"LEFT JOIN customers c USING (customer_id)" if has_signup else ""}
        """)
        params = [start, end]
        n_all, n_existing = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE signup < ?::DATE) FROM _cust", [start]
        ).fetchone()  # type: ignore[misc]
        if not n_all:
            raise CalibrationError(f"{ds.path} has no identified customers to calibrate on")
        # fit on customers acquired inside the observed period (their first purchase is their signup)
        n_new = n_all - n_existing
        where = "signup >= ?::DATE" if n_new >= MIN_CUSTOMERS else "TRUE OR ?::DATE IS NULL"
        d = con.execute(
            f"""
            SELECT n - 1 AS x, epoch(last_ts - first_ts) / 86400 AS t_x,
                   epoch(?::TIMESTAMP - first_ts) / 86400 AS T,
                   date_diff('day', ?::DATE, first_ts::DATE) AS first_day
            FROM _cust WHERE {where} ORDER BY customer_id""",
            [end, start, start],
        ).fetchnumpy()
        rep = con.execute(
            f"""
            SELECT date_diff('day', ?::DATE, t.txn_ts::DATE) AS day FROM (
              SELECT customer_id, txn_ts,
                     row_number() OVER (PARTITION BY customer_id ORDER BY txn_ts, txn_id) AS k
              FROM transactions WHERE customer_id IS NOT NULL) t JOIN _cust USING (customer_id)
            WHERE k > 1 AND {where}""",
            [start, start],
        ).fetchnumpy()
        days = con.execute(
            "SELECT date_diff('day', ?::DATE, txn_ts::DATE) AS day FROM transactions", [start]
        ).fetchnumpy()
        anon, mean_value = con.execute(
            "SELECT avg((customer_id IS NULL)::DOUBLE), avg(total_amount) FROM transactions"
        ).fetchone()  # type: ignore[misc]
        gg = con.execute("""
            SELECT count(*) - 1 AS frequency, avg(total_amount) FILTER (WHERE k > 1) AS monetary FROM (
              SELECT customer_id, total_amount,
                     row_number() OVER (PARTITION BY customer_id ORDER BY txn_ts, txn_id) AS k
              FROM transactions WHERE customer_id IS NOT NULL) GROUP BY customer_id HAVING count(*) > 1
        """).fetchnumpy()
        stores = ds.rows("stores") if ds.has("stores") else 0
        products = ds.rows("products") if ds.has("products") else 0
        has_promos = ds.has("promotions") and ds.rows("promotions") > 0
        del params
    finally:
        con.close()
    return _Log(
        ds,
        start,
        end,
        d["x"].astype(float),
        d["t_x"].astype(float),
        d["T"].astype(float),
        d["first_day"].astype(np.int64),
        rep["day"].astype(np.int64),
        days["day"].astype(np.int64),
        n_existing / n_all,
        int(n_all),
        float(anon or 0.0),
        float(mean_value),
        gg["frequency"].astype(float),
        np.nan_to_num(gg["monetary"].astype(float)),
        int(stores),
        int(products),
        bool(has_promos),
    )


def _basket(ds: Dataset, gg: GammaGammaFit | None) -> tuple[dict[str, float], list[str]]:
    """Basket-size parameters: ``lines_mean``, ``lines_shape``, ``extra_quantity_mean``."""
    notes: list[str] = []
    has_items = ds.has_column("transactions", "n_items")
    has_lines = ds.has_column("transactions", "n_lines")
    con = ds.connect()
    try:
        multi_line = False
        if has_lines:
            multi_line = bool(con.execute("SELECT max(n_lines) > 1 FROM transactions").fetchone()[0])  # type: ignore[index]
        if has_lines and multi_line:
            count = "n_lines"
            eq_row = con.execute(
                "SELECT avg(quantity - 1) FROM transaction_lines"
                if ds.has_column("transaction_lines", "quantity")
                else "SELECT NULL"
            ).fetchone()
            extra_q = float(eq_row[0]) if eq_row and eq_row[0] is not None else 0.3  # type: ignore[index]
        elif has_items:
            count, extra_q = "n_items", 0.0
            notes.append("one line per unit: basket sizes fitted to units per transaction")
        else:
            count, extra_q = "", 0.3
        if count:
            mu, cust_mean, cust_var, noise = con.execute(f"""
                WITH c AS (SELECT avg({count} - 1) AS y, count(*) AS n FROM transactions
                           WHERE customer_id IS NOT NULL GROUP BY customer_id)
                SELECT (SELECT avg({count} - 1) FROM transactions), avg(y), var_pop(y), avg(y / n) FROM c
            """).fetchone()  # type: ignore[misc]
            mu = max(float(mu), 0.01)
            var_m = float(cust_var) - float(noise)  # Var(ȳ) = Var(m) + E[m / n] for Poisson counts
            shape = float(np.clip(float(cust_mean) ** 2 / var_m, 0.05, 100.0)) if var_m > 0 else 100.0
        else:
            mu = 4.5
            if gg is not None and gg.spend_cv is not None:
                # customers' mean spend ∝ 1 + m: match its CV to the Gamma-Gamma spend CV
                shape = float(np.clip((mu / (1 + mu)) ** 2 / gg.spend_cv**2, 0.2, 100.0))
            else:
                shape = 2.5
            notes.append("no quantities in the log: basket size spread set from the Gamma-Gamma spend CV")
    finally:
        con.close()
    return {"lines_mean": mu, "lines_shape": shape, "extra_quantity_mean": extra_q}, notes


# --------------------------------------------------------------------------------------------------------
# seasonality and acquisition
# --------------------------------------------------------------------------------------------------------


def _weekday_weights(log: _Log) -> tuple[float, ...]:
    n_days = (log.end - log.start).days
    wd_of_day = (np.arange(n_days) + log.start.weekday()) % 7  # Monday = 0
    days_per_wd = np.bincount(wd_of_day, minlength=7).astype(float)
    d = log.all_days[(log.all_days >= 0) & (log.all_days < n_days)]
    counts = np.bincount((d + log.start.weekday()) % 7, minlength=7).astype(float)
    rate = counts / np.maximum(days_per_wd, 1)
    if rate.min() <= 0:
        rate = rate + rate.mean() * 0.01
    w = rate / rate.mean()
    return tuple(round(float(v), 4) for v in w)


def _expected_repeats(p: Params, first_day: np.ndarray, n_days: int) -> np.ndarray:
    """Model-expected repeat purchases per day (no seasonality): acquisitions ∗ E[λ]·P(alive at τ), times
    the welcome boost in the first days after acquisition."""
    acq = np.bincount(np.clip(first_day, 0, n_days - 1), minlength=n_days).astype(float)
    tau = np.arange(n_days) + 0.5
    kernel = p.r / p.alpha * (p.beta / (p.beta + tau)) ** p.s * np.where(tau < p.days, p.boost, 1.0)
    return np.convolve(acq, kernel)[:n_days]


def _month_factors(log: _Log, p: Params, weekday: tuple[float, ...]) -> dict[str, float]:
    """Per calendar month of the observed period: observed / model-expected repeat purchases.

    The expectation is the Pareto/NBD's (no seasonality) times the twin's weekday profile, so the twin's
    expected repeat purchases per month equal the observed ones. Counts are shrunk towards 1 with
    :data:`SHRINK` pseudo-purchases, so a thin month does not get a wild factor.
    """
    from retailsim.config import SeasonalityConfig
    from retailsim.generate.calendar import intensity

    n_days = (log.end - log.start).days
    expected = _expected_repeats(p, log.first_day, n_days)
    weekly = intensity(
        SeasonalityConfig(weekday_weights=weekday, yearly_amplitude=0, december_lift=1, holidays=()),
        log.start,
        n_days,
    )
    expected = expected * weekly
    observed = np.bincount(np.clip(log.repeat_days, 0, n_days - 1), minlength=n_days).astype(float)
    months = (np.datetime64(log.start, "D") + np.arange(n_days)).astype("datetime64[M]")
    labels, idx = np.unique(months, return_inverse=True)
    obs_m = np.bincount(idx, weights=observed, minlength=len(labels))
    exp_m = np.bincount(idx, weights=expected, minlength=len(labels))
    factors = (obs_m + SHRINK) / (exp_m + SHRINK)
    return {str(m): round(float(f), 4) for m, f in zip(labels, factors, strict=True)}


def _acquisition(log: _Log) -> dict[str, Any]:
    n_days = (log.end - log.start).days
    last_first = int(log.first_day.max()) if len(log.first_day) else n_days - 1
    window = last_first + 1
    days: int | None = window if window < 0.9 * n_days else None
    return {"existing_share": round(log.existing_share, 4), "signup_window_days": days}


# --------------------------------------------------------------------------------------------------------
# the twin
# --------------------------------------------------------------------------------------------------------


def _twin_config(
    log: _Log,
    p: Params,
    basket: dict[str, float],
    month_factors: dict[str, float],
    weekday: tuple[float, ...],
    acquisition: dict[str, Any],
    *,
    customers: int,
    seed: int,
    price_scale: float,
) -> SimConfig:
    n_days = (log.end - log.start).days
    months = max(1, min(120, round(n_days / 30.4375)))
    overrides: dict[str, Any] = {
        "seed": seed,
        "horizon": {"start": log.start.isoformat(), "months": months},
        "stores": {"count": max(1, min(log.stores, 20_000)), "online": 1, "new_share": 0.0},
        "products": {
            "count": min(max(log.products, 50), 500_000) if log.products else DEFAULT_TWIN_PRODUCTS,
            "new_share": 0.0,
            "price_scale": round(price_scale, 6),
        },
        "customers": {
            "count": customers,
            "existing_share": acquisition["existing_share"],
            "signup_window_days": acquisition["signup_window_days"],
            "purchase_rate": {"mean": p.r / p.alpha, "shape": p.r},
            "lifetime_days": {"mean": p.s / p.beta, "shape": p.s},
            "welcome": {"boost": round(p.boost, 4), "days": round(p.days, 2)},
            "basket_lines": {"mean": basket["lines_mean"], "shape": basket["lines_shape"]},
        },
        "baskets": {
            # the log has no store formats: every format fills baskets alike
            "format_factor": dict.fromkeys(("hypermarket", "supermarket", "convenience", "online"), 1.0),
            "extra_quantity_mean": basket["extra_quantity_mean"],
            "promo_extra_quantity_mean": basket["extra_quantity_mean"],
        },
        "seasonality": {
            "weekday_weights": list(weekday),
            # the month factors carry the log's season and calendar events month by month
            "yearly_amplitude": 0.0,
            "december_lift": 1.0,
            "holidays": [],
            "month_factors": month_factors,
        },
        "anonymous": {"share": round(min(log.anonymous_share, 0.9), 4)},
    }
    if not log.has_promotions:
        overrides["promotions"] = {"per_month": 0}
    return build_config(None, overrides=overrides, source="calibration")


def _pilot_mean_value(cfg: SimConfig) -> float:
    """Mean transaction value of one pilot shard of ``cfg`` simulated by the generator (in memory)."""
    from retailsim.generate.shards import simulate_shard
    from retailsim.generate.world import build_world

    n = min(cfg.customers.count, PILOT_CUSTOMERS)
    pilot = cfg.model_copy(
        update={
            "customers": cfg.customers.model_copy(update={"count": n}),
            "shard_customers": max(n, 10),
        }
    )
    data = simulate_shard(build_world(pilot), 0)
    amounts = data.transactions.column("total_amount").to_numpy()
    if len(amounts) == 0:
        raise CalibrationError("the pilot twin made no transactions; the fitted purchase rate is too low")
    return float(amounts.mean())


def _refine(
    ds: Dataset, log: _Log, mle: ParetoNBDFit, weekday: tuple[float, ...], acquisition: dict[str, Any]
) -> tuple[Params, dict[str, Any]]:
    """Simulated-moments polish of the MLE (see :mod:`retailsim.fidelity.refine`)."""
    from retailsim.config import SeasonalityConfig
    from retailsim.fidelity.facts import compute_facts
    from retailsim.fidelity.refine import Process, Simulator, moments_from_facts, refine
    from retailsim.generate.calendar import intensity

    facts = compute_facts(ds).values
    gap_points = sorted(
        {
            7,
            *(round(v) for v in (facts["median_interpurchase_days"], facts["p90_interpurchase_days"]) if v),
        }
    )
    con = ds.connect()
    try:
        row = con.execute(
            f"""SELECT {", ".join(f"avg((gap <= {g})::DOUBLE)" for g in gap_points)} FROM (
                  SELECT date_diff('day', lag(txn_ts::DATE) OVER (PARTITION BY customer_id ORDER BY txn_ts, txn_id),
                                   txn_ts::DATE) AS gap
                  FROM transactions WHERE customer_id IS NOT NULL) WHERE gap IS NOT NULL"""
        ).fetchone()
    finally:
        con.close()
    gap_cdf = {g: float(v) for g, v in zip(gap_points, row or (), strict=False) if v is not None}
    target = moments_from_facts(facts, gap_cdf)
    n_days = (log.end - log.start).days

    def calendar(p: Params) -> np.ndarray:
        season = SeasonalityConfig(
            weekday_weights=weekday,
            yearly_amplitude=0,
            december_lift=1,
            holidays=(),
            month_factors=_month_factors(log, p, weekday),
        )
        return intensity(season, log.start, n_days)

    proc = Process(log.start, n_days, acquisition["signup_window_days"], calendar)
    start = Params(mle.r, mle.alpha, mle.s, mle.beta)
    p, f0, f1 = refine(start, target, proc)
    twin = Simulator(proc, target.gap_points).moments(p)
    return p, {
        "objective_mle": f0,
        "objective": f1,
        "moments_log": target.values,
        "moments_twin": {k: twin[k] for k in target.values if k in twin},
    }


def calibrate(
    ds: Dataset,
    *,
    customers: int | None = None,
    seed: int = 42,
    source: str | None = None,
    refine: bool = True,
) -> Calibration:
    """Fit the simulator's behavioural parameters to the transactions of ``ds`` (imported or generated).

    Parameters
    ----------
    ds
        The real log as a dataset (``retailsim import``), or any dataset.
    customers
        Customers of the twin (default: as many as the log has).
    seed
        Seed written into the twin config.
    source
        Name of the source for the YAML header (default: the dataset path).
    refine
        Polish the Pareto/NBD MLE by simulated moments (:mod:`retailsim.fidelity.refine`) so the twin
        reproduces the log's frequency, retention and inter-purchase facts; only for logs whose customers
        are all acquired inside the observed period (else the MLE is used as is).

    Returns
    -------
    Calibration
        The twin :class:`~retailsim.config.SimConfig` and the estimates behind it.

    Raises
    ------
    CalibrationError
        The log cannot support a fit (too few customers or repeat purchases).
    """
    log = _read(ds)
    mle = fit_pareto_nbd(log.x, log.t_x, log.T)
    gg = fit_gamma_gamma(log.gg_frequency, log.gg_monetary)
    basket, notes = _basket(ds, gg)
    weekday = _weekday_weights(log)
    acquisition = _acquisition(log)
    fit, refinement = Params(mle.r, mle.alpha, mle.s, mle.beta), {}
    if refine and log.existing_share <= 0.05:
        fit, refinement = _refine(ds, log, mle, weekday, acquisition)
    elif refine:
        notes.append("customers acquired before the log started: the twin uses the Pareto/NBD MLE unrefined")
    factors = _month_factors(log, fit, weekday)
    kw: dict[str, Any] = {"customers": customers or log.customers, "seed": seed}
    draft = _twin_config(log, fit, basket, factors, weekday, acquisition, price_scale=1.0, **kw)
    pilot_value = _pilot_mean_value(draft)
    price_scale = log.mean_txn_value / pilot_value
    if not 0 < price_scale <= 100:
        raise CalibrationError(
            f"mean transaction value {log.mean_txn_value:.2f} needs a price scale of {price_scale:.3g} "
            "(allowed: 0 – 100)"
        )
    cfg = _twin_config(log, fit, basket, factors, weekday, acquisition, price_scale=price_scale, **kw)
    notes.append(
        "no store formats, products or promotions in the log: one store of each kind, "
        f"{cfg.products.count} products (grocery taxonomy, prices scaled), "
        f"{'no promotions' if not log.has_promotions else 'default promotions'}"
    )
    spend = {
        "mean_transaction_value": log.mean_txn_value,
        "pilot_mean_at_scale_1": pilot_value,
        "price_scale": price_scale,
    }
    return Calibration(
        config=cfg,
        source=source or str(ds.path),
        pareto_nbd=mle,
        process=fit,
        gamma_gamma=gg,
        basket=basket,
        seasonality={"weekday_weights": weekday, "month_factors": factors},
        acquisition=acquisition,
        spend=spend,
        refinement=refinement,
        notes=notes,
    )


def open_log_or_dataset(
    path: str | Path,
    workdir: str | Path,
    **import_kw: Any,
) -> Dataset:
    """``path`` as a dataset: opened if it is a dataset folder, else imported into ``workdir``.

    Raises
    ------
    DatasetError
        A folder that is not a dataset.
    InputDataError
        A log file with bad input (see :func:`retailsim.fidelity.importer.import_log`).
    """
    p = Path(path)
    if p.is_dir():
        return Dataset(p)
    if not p.exists():
        raise DatasetError(f"no such log file or dataset folder: {p}")
    from retailsim.fidelity.importer import import_log

    return import_log(p, Path(workdir) / "imported", **import_kw).dataset
