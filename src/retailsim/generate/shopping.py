"""Shopping behaviour: when shoppers visit (Poisson process × seasonality, until churn), where (home store,
other stores of the region, online) and what they buy (baskets by format, habits, promotions, own brand).

Everything is vectorised over all visits or lines of a shard; there is no per-customer Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from retailsim.generate.calendar import integrate, invert
from retailsim.generate.population import Traits, draw_products
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
    """Line items of a set of visits, in visit order."""

    n_lines: np.ndarray  # per visit (>= 1)
    visit: np.ndarray
    line_no: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price_cents: np.ndarray
    discount_pct: np.ndarray
    discount_cents: np.ndarray
    promotion: np.ndarray  # promotion index or -1
    amount_cents: np.ndarray


def chain_promo_count(world: World, day: np.ndarray) -> np.ndarray:
    off = world.promotions.chain_offsets
    return off[day + 1] - off[day]


def fill_baskets(
    world: World,
    traits: Traits,
    shopper: np.ndarray,
    day: np.ndarray,
    store: np.ndarray,
    rng: np.random.Generator,
) -> Baskets:
    """Draw every visit's lines: how many by basket trait × store format, which products, how many units."""
    cfg = world.config
    prods = world.products
    n_lines = 1 + rng.poisson(traits.basket_lines[shopper] * world.stores.format_factor[store])
    visit = np.repeat(np.arange(len(shopper)), n_lines)
    starts = np.cumsum(n_lines) - n_lines
    line_no = np.arange(len(visit)) - starts[visit] + 1
    who = shopper[visit]
    d = day[visit]
    u = rng.random((3, len(visit)))
    n_active = chain_promo_count(world, d)
    p_promo = traits.promo[who] * (n_active > 0)
    is_promo = u[0] < p_promo
    is_fav = ~is_promo & (u[0] < p_promo + (1 - p_promo) * traits.habit[who])
    normal = ~is_promo & ~is_fav
    product = np.empty(len(visit), dtype=np.int64)
    # promoted products: uniform over the chain-wide promotions running that day
    pi = np.flatnonzero(is_promo)
    off = world.promotions.chain_offsets[d[pi]]
    promo_idx = world.promotions.chain_promos[off + (u[1][pi] * n_active[pi]).astype(np.int64)]
    product[pi] = world.promotions.product[promo_idx]
    # favourites
    fi = np.flatnonzero(is_fav)
    k = traits.favourites.shape[1]
    product[fi] = traits.favourites[who[fi], (u[1][fi] * k).astype(np.int64)]
    # everything else: by taste and popularity, then maybe the own-brand alternative
    ni = np.flatnonzero(normal)
    drawn = draw_products(world, rng, traits, who[ni], day=d[ni])
    sub = prods.sub_idx[drawn]
    pl = prods.pl_default[sub]
    switch = (u[2][ni] < traits.private_label[who[ni]]) & (pl >= 0)
    product[ni] = np.where(switch, pl, drawn)
    # Poisson(q0) + Poisson(q1 - q0) on promoted lines = Poisson(q1) there (scalar rates are faster to draw)
    q0, q1 = cfg.baskets.extra_quantity_mean, cfg.baskets.promo_extra_quantity_mean
    extra = rng.poisson(q0, size=len(visit))
    if q1 >= q0:
        extra[pi] += rng.poisson(q1 - q0, size=len(pi))
    else:
        extra[pi] = rng.poisson(q1, size=len(pi))
    quantity = 1 + np.minimum(extra, 49)
    promotion = promotion_at(world, product, store[visit], d)
    disc = np.zeros(len(promotion))
    on_promo = promotion >= 0  # (no promotions at all is allowed: promotions.per_month=0)
    disc[on_promo] = world.promotions.discount[promotion[on_promo]]
    price = prods.price_cents[product]
    gross = quantity * price
    disc_cents = np.round(gross * disc).astype(np.int64)
    return Baskets(
        n_lines, visit, line_no, product, quantity, price, disc, disc_cents, promotion, gross - disc_cents
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
    pay = np.where(online, (u[0][:, None] > _PAY_ONLINE).sum(1), (u[0][:, None] > _PAY_IN_STORE).sum(1))
    channel = np.where(online, np.where(u[1] < 0.55, 1, 2), 0)
    return np.minimum(pay, 3), channel
