"""The oracle: each customer's expected spend in a future window, computed from the simulation's truth.

It knows what no model can: the latent traits and whether the customer is still active at the cutoff. It
integrates the purchase rate × seasonality × survival over the window and multiplies by the expected basket
value on each day (store choice, basket size by format, habits, own-brand switching, the promotions running
then). On average no model can beat it: it is the floor the ML issue scores models against.

:func:`simulate_future_spend` draws the same window by Monte Carlo with the generator's own code; the test
suite checks that the mean of many such futures matches :func:`expected_spend`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd

from retailsim.errors import DatasetError, RetailsimError
from retailsim.generate import shopping
from retailsim.generate.population import Traits
from retailsim.generate.world import World, build_world
from retailsim.rng import stream
from retailsim.storage.dataset import Dataset

_CHUNK = 20_000


def _window(world: World, cutoff: dt.date | str, horizon_days: int) -> int:
    c = pd.Timestamp(cutoff).date()
    t0 = (c - world.start).days + 1  # the window starts at the end of the cutoff day
    if horizon_days < 1:
        raise RetailsimError(f"horizon_days must be >= 1 (got {horizon_days})")
    if t0 < 1 or t0 + horizon_days > world.n_days:
        last = world.start + dt.timedelta(days=world.n_days - 1 - horizon_days)
        raise RetailsimError(
            f"cutoff {c} with a {horizon_days}-day window is outside the simulated horizon "
            f"({world.start} .. {world.start + dt.timedelta(days=world.n_days - 1)}); latest cutoff: {last}"
        )
    return t0


def _known_and_alive(world: World, df: pd.DataFrame, t0: int) -> tuple[np.ndarray, np.ndarray]:
    """Customers signed up by the cutoff, and those of them not churned at the window start ``t0``."""
    cutoff_date = np.datetime64(world.start, "D") + t0 - 1
    known = df["signup_date"].to_numpy().astype("datetime64[D]") <= cutoff_date
    return known, known & (df["churn_time"].to_numpy() > t0)


def _welcome_start(world: World, df: pd.DataFrame) -> np.ndarray:
    """Signup time of customers who joined during the horizon (their welcome period starts then); a
    time long before the horizon for the others, whose welcome period is over."""
    new = df["signup_date"].to_numpy().astype("datetime64[D]") >= np.datetime64(world.start, "D")
    return np.where(new, df["active_from"].to_numpy(), -1e9)


def load_truth(ds: Dataset) -> tuple[World, pd.DataFrame, Traits]:
    """The world, per-customer truth (with signup) and the :class:`Traits` of every customer of ``ds``."""
    if ds.config is None or not ds.has("customer_truth"):
        raise DatasetError(f"{ds.path} has no simulation truth (only generated datasets have an oracle)")
    world = build_world(ds.config)
    con = ds.connect()
    try:
        df = con.execute("""
            SELECT t.*, c.signup_date, c.home_store_id
            FROM customer_truth t JOIN customers c USING (customer_id) ORDER BY customer_id
        """).df()
    finally:
        con.close()
    pref = np.stack(df["department_pref"].to_numpy()).astype(np.float64)
    traits = Traits(
        purchase_rate=df["purchase_rate"].to_numpy(),
        dropout_rate=df["dropout_rate"].to_numpy(),
        basket_lines=df["basket_lines_mean"].to_numpy(),
        habit=df["habit"].to_numpy(),
        promo=df["promo_sensitivity"].to_numpy(),
        private_label=df["private_label_affinity"].to_numpy(),
        online=df["online_share"].to_numpy(),
        dept_pref=pref,
        favourites=np.stack(df["favourites"].to_numpy()).astype(np.int64) - 1,
        home_store=df["home_store_id"].to_numpy().astype(np.int64) - 1,
    )
    return world, df, traits


def _unit_values(world: World, days: np.ndarray, scope_store: int) -> np.ndarray:
    """Expected paid amount of one normal line of each product on each day, in a store (-1: physical).

    Shape (n_products, n_days_window)."""
    pr, prods = world.promotions, world.products
    promo = pr.by_day_product[days].T
    if len(pr.store):
        scope = pr.store[np.maximum(promo, 0)]
        applies = (promo >= 0) & ((scope < 0) | (scope == scope_store))
        disc = np.where(applies, pr.discount[np.maximum(promo, 0)], 0.0)
    else:
        disc = np.zeros(promo.shape)
    return prods.price[:, None] * (1 - disc) * (1 + world.config.baskets.extra_quantity_mean)


def _subcategory_values(world: World, days: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A: expected value of a popularity draw in each subcategory (unlaunched ⇒ anchor); B: own brand."""
    prods = world.products
    launched = prods.launch_day[:, None] <= days[None, :]
    sub = prods.sub_idx
    eff = np.where(launched, v, v[prods.anchor[sub]])
    a = np.stack(
        [
            np.bincount(sub, weights=prods.popularity * eff[:, j], minlength=prods.n_sub)
            for j in range(len(days))
        ],
        axis=1,
    )
    has_pl = prods.pl_default >= 0
    b = np.where(has_pl[:, None], v[np.maximum(prods.pl_default, 0)], a)
    return a, b  # (n_sub, n_days)


def _promo_line_value(world: World, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pr, prods = world.promotions, world.products
    off = pr.chain_offsets
    value = np.zeros(len(days))
    active = (off[days + 1] - off[days]) > 0
    for j, d in enumerate(days):
        idx = pr.chain_promos[off[d] : off[d + 1]]
        if len(idx):
            value[j] = np.mean(prods.price[pr.product[idx]] * (1 - pr.discount[idx]))
    return value * (1 + world.config.baskets.promo_extra_quantity_mean), active


def _line_values(
    world: World,
    tr: Traits,
    rows: np.ndarray,
    days: np.ndarray,
    scope_store: int,
    sub_weight: np.ndarray,
    promo_value: np.ndarray,
    promo_active: np.ndarray,
) -> np.ndarray:
    """Expected value of one line for each customer in ``rows`` and window day. Shape (n, n_days)."""
    v = _unit_values(world, days, scope_store)
    a, b = _subcategory_values(world, days, v)
    p_sub = tr.dept_pref[rows] @ sub_weight  # (n, n_sub)
    base = p_sub @ a + tr.private_label[rows, None] * (p_sub @ (b - a))
    fav = v[tr.favourites[rows]].mean(axis=1)  # (n, n_days)
    p_promo = tr.promo[rows, None] * promo_active[None, :]
    h = tr.habit[rows, None]
    return p_promo * promo_value[None, :] + (1 - p_promo) * (h * fav + (1 - h) * base)


def _store_mix(world: World, tr: Traits, rows: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For physical visits: P(home) and expected basket factor of an 'other store' visit, per (n, day)."""
    st = world.stores
    eta = world.config.customers.home_store_loyalty
    home = tr.home_store[rows]
    members = st.region_members
    p_home = np.empty((len(rows), len(days)))
    f_other = np.empty((len(rows), len(days)))
    for r, mem in enumerate(members):
        sel = np.flatnonzero(st.region_idx[home] == r)
        if not len(sel):
            continue
        open_ = st.opened_day[mem][None, :] <= days[:, None]  # (days, members)
        is_home = mem[None, :] == home[sel][:, None]  # (n, members)
        ok = (~is_home)[:, None, :] & open_[None, :, :]  # (n, days, members)
        n_ok = ok.sum(axis=2)
        fail = (1 - n_ok / len(mem)) ** 12
        p_home[sel] = eta + (1 - eta) * fail
        f_sum = (ok * st.format_factor[mem][None, None, :]).sum(axis=2)
        f_other[sel] = np.where(n_ok > 0, f_sum / np.maximum(n_ok, 1), 0.0)
    return p_home, f_other


def expected_spend(dataset: Dataset | str, cutoff: dt.date | str, horizon_days: int = 30) -> pd.DataFrame:
    """Each known customer's expected spend in ``(cutoff, cutoff + horizon_days]`` given the truth.

    Parameters
    ----------
    dataset
        A generated dataset (or its path).
    cutoff
        Last day of history; customers who signed up later are not included.
    horizon_days
        Window length in days.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``alive`` (not churned at the cutoff), ``expected_visits``, ``expected_spend``.
    """
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    world, df, tr = load_truth(ds)
    t0 = _window(world, cutoff, horizon_days)
    days = np.arange(t0, t0 + horizon_days)
    known, alive = _known_and_alive(world, df, t0)
    prods, st = world.products, world.stores
    sub_weight = np.zeros((prods.n_dept, prods.n_sub))
    sub_weight[prods.sub_dept, np.arange(prods.n_sub)] = world.products.sub_table.prob
    promo_value, promo_active = _promo_line_value(world, days)
    online = np.flatnonzero(st.is_online)
    f_online = world.config.baskets.format_factor["online"]
    visits = np.zeros(len(df))
    spend = np.zeros(len(df))
    welcome, signup = world.config.customers.welcome, _welcome_start(world, df)
    rows_all = np.flatnonzero(alive)
    for c in range(0, len(rows_all), _CHUNK):
        rows = rows_all[c : c + _CHUNK]
        mu = tr.dropout_rate[rows, None]
        k = days[None, :] - t0
        exposure = (np.exp(-mu * k) - np.exp(-mu * (k + 1))) / mu
        rate = tr.purchase_rate[rows, None] * world.intensity[days][None, :] * exposure  # (n, days)
        if welcome.boost > 1:  # the part of each day inside a new customer's welcome period
            lo = np.maximum(days[None, :], signup[rows, None])
            hi = np.minimum(days[None, :] + 1, signup[rows, None] + welcome.days)
            hi = np.maximum(hi, lo)  # empty overlap: hi == lo, nothing inside
            inside = (np.exp(-mu * (lo - t0)) - np.exp(-mu * (hi - t0))) / mu
            rate = rate + (
                tr.purchase_rate[rows, None] * (welcome.boost - 1) * world.intensity[days][None, :] * inside
            )
        m = tr.basket_lines[rows, None]
        phys_line = _line_values(world, tr, rows, days, -1, sub_weight, promo_value, promo_active)
        p_home, f_other = _store_mix(world, tr, rows, days)
        f_home = st.format_factor[tr.home_store[rows]][:, None]
        phys = (p_home * (1 + m * f_home) + (1 - p_home) * (1 + m * f_other)) * phys_line
        omega = tr.online[rows, None]
        value = (1 - omega) * phys
        if len(online):
            on = sum(
                _line_values(world, tr, rows, days, int(o), sub_weight, promo_value, promo_active)
                for o in online
            ) / len(online)
            value = value + omega * (1 + m * f_online) * on
        visits[rows] = rate.sum(axis=1)
        spend[rows] = (rate * value).sum(axis=1)
    return pd.DataFrame(
        {
            "customer_id": df["customer_id"].to_numpy()[known],
            "alive": alive[known],
            "expected_visits": visits[known],
            "expected_spend": spend[known],
        }
    )


def simulate_future_spend(
    dataset: Dataset | str, cutoff: dt.date | str, horizon_days: int = 30, n_sims: int = 100, seed: int = 0
) -> pd.DataFrame:
    """Monte Carlo: simulate the window ``n_sims`` times from the truth with the generator's own code.

    Returns one row per known customer with the mean simulated spend and visits.
    """
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    world, df, tr = load_truth(ds)
    t0 = _window(world, cutoff, horizon_days)
    known, alive = _known_and_alive(world, df, t0)
    rows = np.flatnonzero(alive)
    sub = tr.subset(rows)
    welcome, signup = world.config.customers.welcome, _welcome_start(world, df)
    total_spend = np.zeros(len(df))
    total_visits = np.zeros(len(df))
    for s in range(n_sims):
        rng = stream(seed, "futures", s)
        churn = t0 + rng.exponential(size=len(rows)) / sub.dropout_rate  # memoryless: alive at t0
        end = np.minimum(churn, t0 + horizon_days)
        shopper, t = shopping.draw_visit_times(world, sub, np.full(len(rows), float(t0)), end, rng)
        if welcome.boost > 1:
            extra = replace(sub, purchase_rate=sub.purchase_rate * (welcome.boost - 1))
            w_from = np.maximum(signup[rows], float(t0))
            w_shopper, w_t = shopping.draw_visit_times(
                world, extra, w_from, np.minimum(end, signup[rows] + welcome.days), rng
            )
            shopper, t = np.concatenate([shopper, w_shopper]), np.concatenate([t, w_t])
        day = np.floor(t).astype(np.int64)
        store = shopping.choose_stores(world, sub, shopper, day, rng)
        b = shopping.fill_baskets(world, sub, shopper, day, store, rng)
        spent = np.bincount(shopper[b.visit], weights=b.amount_cents, minlength=len(rows)) / 100
        total_spend[rows] += spent
        total_visits[rows] += np.bincount(shopper, minlength=len(rows))
    return pd.DataFrame(
        {
            "customer_id": df["customer_id"].to_numpy()[known],
            "alive": alive[known],
            "mean_visits": total_visits[known] / n_sims,
            "mean_spend": total_spend[known] / n_sims,
        }
    )
