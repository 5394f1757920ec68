"""Customers of one shard: demographics from locale pools and latent behavioural traits.

Traits (the ground truth): purchase rate (gamma ⇒ NBD counts), dropout hazard (gamma ⇒ Pareto/NBD lifetimes),
basket size, habit strength and favourite products, promotion sensitivity, own-brand affinity, online share
and department preferences (Dirichlet).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import ClassVar

import numpy as np
import pyarrow as pa

from retailsim import schema
from retailsim.config import BetaTrait, GammaTrait, SimConfig
from retailsim.generate import reference
from retailsim.generate.calendar import integrate, invert
from retailsim.generate.world import Stores, World
from retailsim.rng import stream
from retailsim.storage.files import labels

SIGNUP_CHANNEL_P = {"store": 0.72, "online": 0.13, "mobile_app": 0.1, "referral": 0.05}


def gamma_trait(rng: np.random.Generator, t: GammaTrait, n: int) -> np.ndarray:
    return rng.gamma(t.shape, t.mean / t.shape, size=n)


def beta_trait(rng: np.random.Generator, t: BetaTrait, n: int) -> np.ndarray:
    return rng.beta(t.mean * t.concentration, (1 - t.mean) * t.concentration, size=n)


@dataclass
class Traits:
    """Latent behaviour of a set of shoppers (customers of a shard, or anonymous shoppers)."""

    purchase_rate: np.ndarray
    dropout_rate: np.ndarray
    basket_lines: np.ndarray
    habit: np.ndarray
    promo: np.ndarray
    private_label: np.ndarray
    online: np.ndarray
    dept_pref: np.ndarray  # (n, n_dept), rows sum to 1
    favourites: np.ndarray  # (n, k) product indices
    home_store: np.ndarray  # store index

    @cached_property
    def dept_cdf(self) -> DeptCDF:
        """Each shopper's cumulative department preference, for drawing departments (see :class:`DeptCDF`)."""
        return DeptCDF.build(self.dept_pref)

    def subset(self, rows: np.ndarray) -> Traits:
        return Traits(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def concat(self, other: Traits) -> Traits:
        """The shoppers of ``self`` followed by those of ``other``."""
        return Traits(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)}
        )


@dataclass(frozen=True)
class DeptCDF:
    """Per-shopper inverse-CDF table of the department preference, drawn in O(log K) per line.

    Row ``i`` holds ``cum_i[0..K-2]`` (cumulative preference of departments ``0..K-2``) padded with 2.0 to a
    power-of-two width ``W``. The department of a uniform ``u`` is the number of entries ``<= u`` — exactly the
    inverse CDF of the row — found by a branchless binary search over that row alone (``log2 W`` gathers for all
    lines at once). numpy's ``searchsorted`` cannot search a different row per query; searching one sorted key
    array of every shopper (``row + cum``) costs a cache-missing search over all rows per line, ~5x slower.
    """

    table: np.ndarray  # (n * W,) float64
    width: int
    BLOCK: ClassVar[int] = 1 << 16  # lines searched together

    @classmethod
    def build(cls, pref: np.ndarray) -> DeptCDF:
        n, k = pref.shape
        width = 1 << max(k - 1, 1).bit_length()  # > k - 1, so the search never leaves the row
        cum = np.cumsum(pref, axis=1)
        table = np.full((n, width), 2.0)
        table[:, : k - 1] = cum[:, : k - 1] / cum[:, -1:]  # the last department takes the rest
        return cls(table.ravel(), width)

    def draw(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Department of shopper ``rows[j]`` for uniform ``u[j]`` (int32, or int64 for huge tables)."""
        w, table = self.width, self.table
        itype = np.int32 if len(table) < 2**31 else np.int64
        base = rows.astype(itype) * itype(w) - 1  # just before the row: "no entry <= u yet"
        last = base.copy()  # the last entry known to be <= u
        probe = np.empty(min(len(rows), self.BLOCK), itype)
        # every step over one block of lines at a time: its temporaries stay in the CPU cache (~1.5x faster)
        for a in range(0, len(rows), self.BLOCK):
            lb, ub = last[a : a + self.BLOCK], u[a : a + self.BLOCK]
            pb = probe[: len(lb)]
            step = w // 2
            while step:
                np.add(lb, step, out=pb)
                np.copyto(lb, pb, where=ub >= table[pb])
                step //= 2
        last -= base
        return last


NOT_DRAWN = -1
"""A favourite slot whose product is drawn only when a line first picks it (anonymous shoppers)."""


def draw_traits(
    world: World, rng: np.random.Generator, n: int, home_store: np.ndarray, *, anonymous: bool = False
) -> Traits:
    """Latent traits of ``n`` shoppers.

    ``anonymous`` shoppers (no card: one visit each) get no purchase or dropout rate (0), never shop online,
    and their favourites are :data:`NOT_DRAWN`: :func:`~retailsim.generate.shopping.fill_baskets` draws a
    slot's product when a line first picks it, from the same distribution — most slots of a one-visit
    shopper are never picked, so drawing all of them up front was wasted work.
    """
    cc = world.config.customers
    prods = world.products
    if anonymous:
        rate = dropout = np.zeros(n)
    else:
        rate = gamma_trait(rng, cc.purchase_rate, n)
        dropout = gamma_trait(rng, cc.lifetime_days, n)
    lines = gamma_trait(rng, cc.basket_lines, n)
    habit = beta_trait(rng, cc.habit, n)
    promo = beta_trait(rng, cc.promo_sensitivity, n)
    pl = beta_trait(rng, cc.private_label_affinity, n)
    if world.stores.is_online.any() and not anonymous:
        online = beta_trait(rng, cc.online_share, n)
    else:
        online = np.zeros(n)
    alpha = cc.category_concentration * prods.n_dept * prods.dept_share
    g = rng.standard_gamma(np.broadcast_to(alpha, (n, prods.n_dept)))
    g = np.maximum(g, 1e-12)
    dept_pref = g / g.sum(axis=1, keepdims=True)
    k = cc.favourites
    traits = Traits(
        rate, dropout, lines, habit, promo, pl, online, dept_pref, np.full((n, k), NOT_DRAWN), home_store
    )
    if not anonymous:
        fav = draw_products(world, rng, traits, np.repeat(np.arange(n), k), day=None)
        traits.favourites = fav.reshape(n, k)
    return traits


def draw_products(
    world: World, rng: np.random.Generator, traits: Traits, rows: np.ndarray, day: np.ndarray | None
) -> np.ndarray:
    """Product by department preference → subcategory weight → popularity; unlaunched ⇒ subcategory anchor.

    ``rows`` index the shoppers in ``traits``. With ``day=None`` only products established before the
    horizon are drawn (favourites).
    """
    prods = world.products
    u = rng.random((3, len(rows)))
    dept = traits.dept_cdf.draw(rows, u[0])
    sub = prods.sub_table.draw(dept, u[1])
    prod = prods.prod_table.draw(sub, u[2])
    launched = prods.launch_day[prod] < 0 if day is None else prods.launch_day[prod] <= day
    early = np.flatnonzero(~launched)  # few: only they need their subcategory's anchor
    prod[early] = prods.anchor[sub[early]]
    return prod


@dataclass
class Customers:
    table: pa.Table
    traits: Traits
    active_from: np.ndarray  # days since start (< 0 for customers signed up before)
    churn_time: np.ndarray
    signup_time: np.ndarray  # days since start, continuous
    is_new: np.ndarray
    signup_online: np.ndarray


def _signup_times(
    world: World, rng: np.random.Generator, n: int, opened: np.ndarray, existing: np.ndarray
) -> np.ndarray:
    """Existing customers: uniform over up to 5 years before the start; new ones: by shopping intensity."""
    lo_exist = np.maximum(opened, -5 * 365).astype(float)
    t_exist = lo_exist + rng.random(n) * (0 - lo_exist)
    lo_new = np.maximum(opened, 0).astype(float)
    c_lo = integrate(world.cum, world.intensity, lo_new)
    acq = world.config.customers.signup_window_days  # None: acquisitions over the whole horizon
    c_hi = world.cum[-1] if acq is None else world.cum[min(acq, world.n_days)]
    c_lo = np.minimum(c_lo, c_hi)
    t_new = invert(world.cum, world.intensity, c_lo + rng.random(n) * (c_hi - c_lo))
    return np.where(existing, t_exist, t_new)


@dataclass
class CustomerRecords:
    """The customers table of a shard and what the behaviour model needs from it."""

    table: pa.Table
    home: np.ndarray
    existing: np.ndarray
    signup_time: np.ndarray
    signup_online: np.ndarray


def customer_records(world: World, rng: np.random.Generator, first_index: int, n: int) -> CustomerRecords:
    """Demographics, contact details, home store and signup of ``n`` customers (vectorised, no Faker calls)."""
    cc = world.config.customers
    st = world.stores
    # home store weighted by format attractiveness; existing customers need one opened before the start
    existing = rng.random(n) < cc.existing_share
    w = st.home_weight / st.home_weight.sum()
    home = rng.choice(len(w), size=n, p=w)
    existing &= st.opened_day[home] < 0
    signup_t = _signup_times(world, rng, n, st.opened_day[home], existing)
    signup_t = np.minimum(signup_t, world.n_days - 1e-6)
    signup_day = np.floor(signup_t).astype(np.int64)
    channel = rng.choice(len(SIGNUP_CHANNEL_P), size=n, p=list(SIGNUP_CHANNEL_P.values()))
    female = rng.random(n) < cc.female_share
    first, last = reference.sample_people(rng, n, cc.locale, female)
    ids = np.arange(first_index + 1, first_index + n + 1, dtype=np.int64)
    emails = reference.make_emails(rng, first, last, cc.locale, ids)
    phones = reference.make_phones(rng, n, cc.locale)
    street = reference.make_street_addresses(rng, n, cc.locale)
    cities = reference.load_cities(cc.locale)
    # live in the home store's city mostly, else a population-weighted city of the same region
    home_region = st.region_idx[home]
    city_idx = _home_city_index(st, cities, home)
    other = rng.random(n) > 0.75
    for r in np.unique(home_region[other]):
        in_r = np.flatnonzero(cities.region == st.regions[r])
        sel = np.flatnonzero(other & (home_region == r))
        city_idx[sel] = in_r[
            rng.choice(len(in_r), size=len(sel), p=cities.population[in_r] / cities.population[in_r].sum())
        ]
    years_known = (world.n_days - signup_t) / 365.25
    age_end = np.clip(rng.normal(cc.age_mean, cc.age_sd, size=n), 16 + years_known + 0.1, 89.5)
    birth = world.n_days - age_end * 365.25
    start = np.datetime64(world.start, "D")
    table = pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "external_id": pa.nulls(n, pa.string()),
            "first_name": pa.array(first, pa.string()),
            "last_name": pa.array(last, pa.string()),
            "gender": labels(female.astype(np.int8), ("M", "F")),
            "birth_date": pa.array(
                (start + np.floor(birth).astype(np.int64)).astype("datetime64[D]"), pa.date32()
            ),
            "email": pa.array(emails, pa.string()),
            "phone": pa.array(phones, pa.string()),
            "street_address": pa.array(street, pa.string()),
            "city": labels(city_idx, tuple(cities.city)),
            "region": labels(home_region, tuple(st.regions)),
            "country": labels(np.zeros(n, np.int8), (cities.country,)),
            "signup_date": pa.array((start + signup_day).astype("datetime64[D]"), pa.date32()),
            "signup_channel": labels(channel, tuple(SIGNUP_CHANNEL_P)),
            "home_store_id": pa.array(home + 1, pa.int32()),
            "marketing_opt_in": pa.array(rng.random(n) < cc.marketing_opt_in, pa.bool_()),
        },
        schema=schema.CUSTOMERS.arrow_schema(),
    )
    signup_online = np.isin(channel, [1, 2])  # online, mobile_app
    return CustomerRecords(table, home, existing, signup_t, signup_online)


def _home_city_index(st: Stores, cities: reference.Cities, home: np.ndarray) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(cities.city)}
    store_city = np.array([lookup[c] for c in st.city])  # one entry per store
    return store_city[home]


def build_customers(world: World, shard: int, first_index: int, n: int) -> Customers:
    """Customers of one shard with their latent traits, signup and true churn time."""
    cfg: SimConfig = world.config
    st = world.stores
    rng = stream(cfg.seed, "customers", shard)
    rec = customer_records(world, rng, first_index, n)
    traits = draw_traits(world, stream(cfg.seed, "traits", shard), n, rec.home)
    # customers who signed up online shop online more
    traits.online = np.where(rec.signup_online, np.minimum(traits.online * 3 + 0.1, 0.9), traits.online)
    if not st.is_online.any():
        traits.online[:] = 0.0
    active_from = np.where(rec.existing, 0.0, rec.signup_time)
    churn = active_from + rng.exponential(size=n) / traits.dropout_rate
    return Customers(rec.table, traits, active_from, churn, rec.signup_time, ~rec.existing, rec.signup_online)


def truth_table(world: World, cust: Customers) -> pa.Table:
    t = cust.traits
    ids = cust.table.column("customer_id")
    churn_day = np.floor(np.minimum(cust.churn_time, 200 * 365.25)).astype(np.int64)
    n = len(ids)
    k = t.favourites.shape[1]
    favs = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * k + 1, k), pa.int32()), pa.array((t.favourites + 1).ravel(), pa.int32())
    )
    nd = t.dept_pref.shape[1]
    prefs = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * nd + 1, nd), pa.int32()),
        pa.array(t.dept_pref.astype(np.float32).ravel(), pa.float32()),
    )
    return pa.table(
        {
            "customer_id": ids,
            "purchase_rate": pa.array(t.purchase_rate),
            "dropout_rate": pa.array(t.dropout_rate),
            "active_from": pa.array(cust.active_from),
            "churn_time": pa.array(cust.churn_time),
            "churn_date": pa.array(
                (np.datetime64(world.start, "D") + churn_day).astype("datetime64[D]"), pa.date32()
            ),
            "basket_lines_mean": pa.array(t.basket_lines),
            "habit": pa.array(t.habit),
            "promo_sensitivity": pa.array(t.promo),
            "private_label_affinity": pa.array(t.private_label),
            "online_share": pa.array(t.online),
            "favourites": favs,
            "department_pref": prefs,
        },
        schema=schema.CUSTOMER_TRUTH.arrow_schema(),
    )
