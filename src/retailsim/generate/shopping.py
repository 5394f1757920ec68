"""Shopping behaviour: when shoppers visit (Poisson process × seasonality, until churn), where (home store,
other stores of the region, online) and what they buy (baskets by format, habits, promotions, own brand).

Everything is vectorised over all visits or lines of a shard; there is no per-customer Python loop.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np

from retailsim.generate.calendar import integrate, invert
from retailsim.generate.population import NOT_DRAWN, Traits, draw_products
from retailsim.generate.world import World, promotion_at

# hour-of-day profiles (weights for hours 0..23) by format index (schema.STORE_FORMATS order)
_HOURS = {
    0: [0, 0, 0, 0, 0, 0, 0, 0.3, 0.7, 1, 1.2, 1.4, 1.5, 1.3, 1.2, 1.3, 1.6, 1.9, 1.9, 1.5, 1, 0.6, 0.2, 0],
    1: [0, 0, 0, 0, 0, 0, 0, 0.4, 0.8, 1, 1.1, 1.3, 1.5, 1.3, 1.1, 1.2, 1.5, 1.9, 1.8, 1.3, 0.8, 0.4, 0, 0],
    2: [
        0.1,
        0,
        0,
        0,
        0,
        0,
        0.5,
        1.4,
        1.6,
        1.1,
        0.9,
        1,
        1.4,
        1.2,
        0.9,
        1,
        1.3,
        1.8,
        1.9,
        1.5,
        1.1,
        0.8,
        0.5,
        0.3,
    ],
    3: [
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.4,
        0.6,
        0.8,
        0.9,
        1,
        1.1,
        1,
        1,
        1,
        1.1,
        1.2,
        1.4,
        1.7,
        1.9,
        1.8,
        1.2,
        0.6,
    ],
}
_HOUR_CUM = np.array([np.cumsum(np.array(v) / np.sum(v)) for _, v in sorted(_HOURS.items())])
# one sorted table for every format: ``format index + cumulative share``, searched at ``format index + u``
_HOUR_KEY = (np.arange(len(_HOUR_CUM))[:, None] + _HOUR_CUM).ravel()
_PAY_IN_STORE = np.cumsum([0.18, 0.64, 0.15, 0.03])
_PAY_ONLINE = np.cumsum([0.0, 0.72, 0.25, 0.03])


def draw_visit_times(
    world: World, traits: Traits, active_from: np.ndarray, churn: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson visits at rate ``purchase_rate × intensity(t)`` on ``[active_from, min(churn, end))``.

    Returns ``(shopper index, time in days since start)``.
    """
    a = np.clip(active_from, 0.0, world.n_days)
    b = np.clip(churn, 0.0, world.n_days)
    b = np.maximum(a, b)
    ca = integrate(world.cum, world.intensity, a)
    cb = integrate(world.cum, world.intensity, b)
    counts = rng.poisson(traits.purchase_rate * (cb - ca))
    shopper = np.repeat(np.arange(len(counts)), counts)
    u = ca[shopper] + rng.random(len(shopper)) * (cb - ca)[shopper]
    t = invert(world.cum, world.intensity, u)
    return shopper, np.minimum(t, np.nextafter(b[shopper], -np.inf))


def draw_welcome_visits(
    world: World, traits: Traits, signup: np.ndarray, churn: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The extra visits of the welcome burst (``customers.welcome``): Poisson at rate
    ``purchase_rate × (boost − 1) × intensity(t)`` on ``[signup, min(signup + days, churn, end))``."""
    w = world.config.customers.welcome
    extra = replace(traits, purchase_rate=traits.purchase_rate * (w.boost - 1))
    return draw_visit_times(world, extra, signup, np.minimum(churn, signup + w.days), rng)


def choose_stores(
    world: World, traits: Traits, shopper: np.ndarray, day: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Online with the shopper's online share; else the home store with ``home_store_loyalty``; else a
    uniformly chosen other store of the home store's region that is open that day (home if there is none)."""
    st = world.stores
    n = len(shopper)
    home = traits.home_store[shopper]
    u = rng.random((3, n))
    store = home.copy()
    online_stores = np.flatnonzero(st.is_online)
    go_online = u[0] < traits.online[shopper]
    if len(online_stores):
        store[go_online] = online_stores[(u[1][go_online] * len(online_stores)).astype(int)]
    elsewhere = ~go_online & (u[2] >= world.config.customers.home_store_loyalty)
    idx = np.flatnonzero(elsewhere)
    region = st.region_idx[home[idx]]
    sizes_all = np.array([len(m) for m in st.region_members])
    offsets = np.r_[0, np.cumsum(sizes_all)]
    flat = np.concatenate(st.region_members) if len(st.region_members) else np.zeros(0, int)
    pending = np.ones(len(idx), bool)
    for _ in range(12):  # rejection sampling: uniform over the open other stores of the region
        if not pending.any():
            break
        sel = np.flatnonzero(pending)
        pick_pos = (rng.random(len(sel)) * sizes_all[region[sel]]).astype(int)
        cand = flat[offsets[region[sel]] + pick_pos]
        ok = (cand != home[idx[sel]]) & (st.opened_day[cand] <= day[idx[sel]])
        store[idx[sel[ok]]] = cand[ok]
        pending[sel[ok]] = False
    return store


@dataclass
class Baskets:
    """Line items of a set of visits, grouped by visit in visit order."""

    n_lines: np.ndarray  # per visit (>= 1)
    line_no: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price_cents: np.ndarray
    discount_pct: np.ndarray
    discount_cents: np.ndarray
    promotion: np.ndarray  # promotion index or -1
    amount_cents: np.ndarray

    @property
    def visit(self) -> np.ndarray:
        """Visit index of every line."""
        return np.repeat(np.arange(len(self.n_lines)), self.n_lines)


def chain_promo_count(world: World, day: np.ndarray) -> np.ndarray:
    off = world.promotions.chain_offsets
    return off[day + 1] - off[day]


_MAX_EXTRA = 49  # units per line beyond the first are capped here (quantity <= 50)


@functools.lru_cache(maxsize=16)
def poisson_cdf(mean: float, cap: int = _MAX_EXTRA) -> np.ndarray:
    """``P(X <= k)`` for ``k = 0..cap-1``, ``X ~ Poisson(mean)``: the number of entries ``<= u`` of a uniform
    ``u`` is ``min(X, cap)``. (Written out with ``math.lgamma``: scipy.stats would be a slow import for a
    50-entry table.)"""
    if mean <= 0:
        return np.ones(cap)
    k = np.arange(cap)
    log_pmf = -mean + k * math.log(mean) - np.array([math.lgamma(i + 1.0) for i in range(cap)])
    cdf = np.cumsum(np.exp(log_pmf))
    cdf.flags.writeable = False
    return cdf


def inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Number of entries of the sorted table ``cdf`` that are ``<= u`` (``searchsorted(cdf, u, "right")``).

    A few vectorised comparisons settle the head where most of the mass is (e.g. Poisson(0.3): 3 settle
    99.6%); only the rest goes through the binary search."""
    head = int(np.searchsorted(cdf, 0.99, side="right")) + 1
    if head > 4 or head >= len(cdf):
        return np.searchsorted(cdf, u, side="right")
    k = (u >= cdf[0]).astype(np.int64)
    for j in range(1, head):
        k += u >= cdf[j]
    tail = np.flatnonzero(u >= cdf[head - 1])
    k[tail] = np.searchsorted(cdf, u[tail], side="right")
    return k


def fill_baskets(
    world: World,
    traits: Traits,
    shopper: np.ndarray,
    day: np.ndarray,
    store: np.ndarray,
    rng: np.random.Generator,
) -> Baskets:
    """Draw every visit's lines: how many by basket trait × store format, which products, how many units.

    Each line is a promoted product (with the shopper's promotion sensitivity, on days with chain-wide
    promotions), else a favourite (habit), else a draw by taste and popularity; units are 1 + Poisson (capped),
    with a larger mean on promoted lines. Visit-level quantities are computed per visit and repeated per line.
    """
    cfg = world.config
    prods = world.products
    promos = world.promotions
    n_lines = 1 + rng.poisson(traits.basket_lines[shopper] * world.stores.format_factor[store])
    n = int(n_lines.sum())
    line_no = np.ones(n, np.int32)  # 1, 2, ... within each visit: a running sum that restarts at each visit
    line_no[np.cumsum(n_lines[:-1])] = 1 - n_lines[:-1]
    line_no = np.cumsum(line_no, dtype=np.int32)
    who = np.repeat(shopper, n_lines)
    d = np.repeat(day, n_lines)
    u = rng.random((3, n))
    # kind of line from one uniform: promoted below p_promo, favourite below p_fav, else by taste
    p_promo = traits.promo[shopper] * (chain_promo_count(world, day) > 0)
    p_fav = p_promo + (1 - p_promo) * traits.habit[shopper]
    is_promo = u[0] < np.repeat(p_promo, n_lines)
    normal = u[0] >= np.repeat(p_fav, n_lines)
    product = np.empty(n, dtype=np.int32)
    # promoted products: uniform over the chain-wide promotions running that day
    pi = np.flatnonzero(is_promo)
    pd_ = d[pi]
    pick = (u[1][pi] * chain_promo_count(world, pd_)).astype(np.int64)
    product[pi] = promos.product[promos.chain_promos[promos.chain_offsets[pd_] + pick]]
    # favourites: a uniform slot of the shopper's k; a slot not drawn yet gets its product now (one draw per
    # shopper and slot, shared by every line that picks it)
    fi = np.flatnonzero(~is_promo & ~normal)
    k = traits.favourites.shape[1]
    slot = who[fi] * k + (u[1][fi] * k).astype(np.int64)
    product[fi] = traits.favourites.ravel()[slot]
    lazy = np.flatnonzero(product[fi] == NOT_DRAWN)
    if len(lazy):
        slots, first_use = np.unique(slot[lazy], return_inverse=True)
        product[fi[lazy]] = draw_products(world, rng, traits, slots // k, day=None)[first_use]
    # everything else: by taste and popularity, then maybe the own-brand alternative
    ni = np.flatnonzero(normal)
    wn = who[ni]
    drawn = draw_products(world, rng, traits, wn, day=d[ni])
    pl = prods.pl_default[prods.sub_idx[drawn]]
    switch = (u[1][ni] < traits.private_label[wn]) & (pl >= 0)
    product[ni] = np.where(switch, pl, drawn)
    # units: 1 + min(Poisson(q), 49) by inverse CDF, q larger on promoted lines
    q0, q1 = cfg.baskets.extra_quantity_mean, cfg.baskets.promo_extra_quantity_mean
    extra = inverse_cdf(poisson_cdf(q0), u[2])
    extra[pi] = np.searchsorted(poisson_cdf(q1), u[2][pi], side="right")
    quantity = (1 + extra).astype(np.int32)
    promotion = promotion_at(world, product, np.repeat(store, n_lines), d)
    price = prods.price_cents[product]
    gross = quantity * price
    # discounts only where a promotion applies
    on = np.flatnonzero(promotion >= 0)  # (no promotions at all is allowed: promotions.per_month=0)
    disc = np.zeros(n)
    disc[on] = promos.discount[promotion[on]]
    disc_cents = np.zeros(n, np.int64)
    disc_cents[on] = np.round(gross[on] * disc[on])
    return Baskets(
        n_lines, line_no, product, quantity, price, disc, disc_cents, promotion, gross - disc_cents
    )


def time_of_day_seconds(world: World, store: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    fmt = world.stores.format_idx[store]
    u = rng.random(len(store))
    hour = np.searchsorted(_HOUR_KEY, fmt + u) - fmt * _HOUR_CUM.shape[1]
    return np.clip(hour, 0, 23) * 3600 + rng.integers(0, 3600, size=len(store))


def payment_and_channel(
    world: World, store: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    online = world.stores.is_online[store]
    u = rng.random((2, len(store)))
    # number of cumulative shares below u, by channel
    pay = np.where(online, np.searchsorted(_PAY_ONLINE, u[0]), np.searchsorted(_PAY_IN_STORE, u[0]))
    channel = np.where(online, np.where(u[1] < 0.55, 1, 2), 0)
    return np.minimum(pay, 3), channel
