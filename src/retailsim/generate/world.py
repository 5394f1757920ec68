"""The shared world every shard sees: calendar, stores, products and promotions.

Built deterministically from the config alone (its own random streams), cheaply, once per process. Shards
only read it. Besides the Arrow tables it holds the numpy arrays that sampling and the oracle need.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retailsim import schema
from retailsim.config import SimConfig
from retailsim.errors import ConfigError
from retailsim.generate import calendar, reference
from retailsim.rng import stream

PHYSICAL_FORMATS = ("hypermarket", "supermarket", "convenience")
FORMAT_SIZE = {"hypermarket": (6000, 14000), "supermarket": (1200, 3500), "convenience": (80, 400)}
FORMAT_WEIGHT = {"hypermarket": 5.0, "supermarket": 2.0, "convenience": 0.6}  # share of customers' homes


@dataclass(frozen=True)
class Stores:
    table: pa.Table
    format_idx: np.ndarray  # index into schema.STORE_FORMATS
    region_idx: np.ndarray  # index into regions
    regions: np.ndarray
    opened_day: np.ndarray  # days since horizon start (negative: before)
    is_online: np.ndarray
    format_factor: np.ndarray  # basket size multiplier
    city: np.ndarray
    home_weight: np.ndarray  # weight as a home store (0 for online)
    region_members: tuple[np.ndarray, ...]  # physical store indices per region


@dataclass(frozen=True)
class Products:
    table: pa.Table
    price_cents: np.ndarray
    price: np.ndarray
    sub_idx: np.ndarray
    launch_day: np.ndarray
    is_private_label: np.ndarray
    n_sub: int
    sub_dept: np.ndarray  # department index of each subcategory
    n_dept: int
    departments: np.ndarray
    dept_share: np.ndarray  # base popularity of departments
    sub_table: GroupTable  # subcategory within department
    prod_table: GroupTable  # product within subcategory (by popularity)
    popularity: np.ndarray  # within-subcategory probability of each product (as drawn)
    anchor: np.ndarray  # per subcategory: most popular product launched before the horizon
    pl_default: np.ndarray  # per subcategory: own-brand product launched before the horizon, or -1


@dataclass(frozen=True)
class Promotions:
    table: pa.Table
    product: np.ndarray
    store: np.ndarray  # store index, -1 = every store
    start_day: np.ndarray
    end_day: np.ndarray  # inclusive
    discount: np.ndarray
    by_day_product: np.ndarray  # (n_days, n_products) promotion index running on that day and product, or -1
    chain_offsets: np.ndarray  # per day CSR offsets into chain_products
    chain_promos: np.ndarray  # promotion indices of chain-wide promotions active each day


@dataclass(frozen=True)
class World:
    config: SimConfig
    start: dt.date
    n_days: int
    intensity: np.ndarray
    cum: np.ndarray
    stores: Stores
    products: Products
    promotions: Promotions

    def date_of(self, day: np.ndarray) -> np.ndarray:
        return np.datetime64(self.start, "D") + day.astype("int64")


def _date_array(start: dt.date, day: np.ndarray) -> pa.Array:
    return pa.array((np.datetime64(start, "D") + day.astype("int64")).astype("datetime64[D]"), pa.date32())


def _build_stores(cfg: SimConfig, start: dt.date, n_days: int) -> Stores:
    rng = stream(cfg.seed, "stores")
    cities = reference.load_cities(cfg.customers.locale)
    n_phys, n_online = cfg.stores.count, cfg.stores.online
    mix = cfg.stores.format_mix
    shares = np.array([mix.hypermarket, mix.supermarket, mix.convenience], dtype=float)
    if shares.sum() <= 0:
        shares = np.ones(3)
    fmt = rng.choice(3, size=n_phys, p=shares / shares.sum())
    city_idx = rng.choice(len(cities.city), size=n_phys, p=cities.weights)
    new = rng.random(n_phys) < cfg.stores.new_share
    opened = np.where(
        new,
        rng.integers(0, max(n_days - 30, 1), size=n_phys),
        -rng.integers(365, 25 * 365, size=n_phys),
    )
    lo = np.array([FORMAT_SIZE[PHYSICAL_FORMATS[f]][0] for f in fmt])
    hi = np.array([FORMAT_SIZE[PHYSICAL_FORMATS[f]][1] for f in fmt])
    size = (lo + rng.random(n_phys) * (hi - lo)).round(-1).astype(np.int32)
    jitter = rng.normal(0, 0.03, size=(n_phys, 2))
    hq = int(np.argmax(cities.population))
    names = [
        f"{cities.city[c]} {PHYSICAL_FORMATS[f].title()} {i + 1}"
        for i, (c, f) in enumerate(zip(city_idx, fmt, strict=True))
    ] + [f"Online Shop {j + 1}" for j in range(n_online)]
    all_city = np.concatenate([city_idx, np.full(n_online, hq)])
    format_names = [PHYSICAL_FORMATS[f] for f in fmt] + ["online"] * n_online
    opened_all = np.concatenate([opened, -rng.integers(365, 10 * 365, size=n_online)])
    regions, region_idx = np.unique(cities.region[all_city], return_inverse=True)
    is_web = np.arange(n_phys + n_online) >= n_phys
    table = pa.table(
        {
            "store_id": pa.array(np.arange(1, n_phys + n_online + 1), pa.int32()),
            "store_name": pa.array(names, pa.string()),
            "format": pa.array(format_names, pa.string()),
            "city": pa.array(cities.city[all_city].tolist(), pa.string()),
            "region": pa.array(cities.region[all_city].tolist(), pa.string()),
            "country": pa.array([cities.country] * (n_phys + n_online), pa.string()),
            # online shops have no coordinates (a mask, not from_pandas=True, which imports pandas)
            "latitude": pa.array(
                np.concatenate([(cities.latitude[city_idx] + jitter[:, 0]).round(5), np.zeros(n_online)]),
                pa.float64(),
                mask=is_web,
            ),
            "longitude": pa.array(
                np.concatenate([(cities.longitude[city_idx] + jitter[:, 1]).round(5), np.zeros(n_online)]),
                pa.float64(),
                mask=is_web,
            ),
            "size_sqm": pa.array(
                np.concatenate([size, np.zeros(n_online, np.int32)]),
                pa.int32(),
                mask=is_web,
            ),
            "opened_date": _date_array(start, opened_all),
        },
        schema=schema.STORES.arrow_schema(),
    )
    fidx = np.array([schema.STORE_FORMATS.index(f) for f in format_names])
    factor_map = cfg.baskets.format_factor
    factor = np.array([factor_map[f] for f in format_names])  # type: ignore[index]
    is_online = fidx == schema.STORE_FORMATS.index("online")
    home_weight = np.where(is_online, 0.0, [FORMAT_WEIGHT.get(f, 0.0) for f in format_names])
    members = tuple(np.flatnonzero((region_idx == r) & ~is_online) for r in range(len(regions)))
    return Stores(
        table,
        fidx,
        region_idx,
        regions,
        opened_all,
        is_online,
        factor,
        cities.city[all_city],
        home_weight,
        members,
    )


def _build_products(cfg: SimConfig, start: dt.date, n_days: int) -> Products:
    rng = stream(cfg.seed, "products")
    tax = reference.load_taxonomy()
    n_sub = len(tax.subcategory)
    n = cfg.products.count
    departments, sub_dept = np.unique(tax.department, return_inverse=True)
    n_dept = len(departments)
    # every subcategory gets at least 3 products, the rest by a random size weight
    base = np.minimum(3, n // n_sub)
    weights = rng.gamma(2.0, 1.0, size=n_sub)
    extra = rng.multinomial(n - base * n_sub, weights / weights.sum())
    sub_idx = np.repeat(np.arange(n_sub), base + extra)
    # private label: a share of each subcategory's products, at least one where the share > 0
    is_pl = rng.random(n) < tax.private_label_share[sub_idx]
    first_of_sub = np.r_[0, np.cumsum(base + extra)[:-1]]
    is_pl[first_of_sub[(base + extra) > 1] + 1] = True
    price = np.exp(np.log(tax.price_median[sub_idx]) + rng.normal(0, tax.price_sigma[sub_idx]))
    price = np.where(is_pl, price * 0.78, price) * cfg.products.price_scale
    price_cents = np.clip(np.round(price * 100).astype(np.int64), 19, 399_999)
    price_cents = (price_cents // 10) * 10 + 9  # psychological pricing: x.x9
    cost = np.round(price_cents * rng.uniform(0.5, 0.82, size=n)) / 100
    new = rng.random(n) < cfg.products.new_share
    launch = np.where(new, rng.integers(0, max(n_days - 14, 1), size=n), -rng.integers(30, 12 * 365, size=n))
    # the first product of every subcategory is established, so the subcategory is never empty
    launch[first_of_sub] = -rng.integers(400, 12 * 365, size=n_sub)
    brands_pool = reference.make_brands(
        rng, cfg.products.brands_per_department * n_dept, cfg.customers.locale
    )
    brand_of = brands_pool.reshape(n_dept, cfg.products.brands_per_department)
    brand = np.where(
        is_pl,
        cfg.products.private_label_brand,
        brand_of[sub_dept[sub_idx], rng.integers(0, cfg.products.brands_per_department, size=n)],
    )
    noun_pick = rng.random(n)
    variants = np.array(["", " Organic", " Family Pack", " Value Pack", " Premium", " Light", " Classic"])
    variant = variants[rng.choice(len(variants), size=n, p=[0.55, 0.1, 0.08, 0.07, 0.08, 0.06, 0.06])]
    names = []
    for i in range(n):  # n ≤ a few 10k; names are built once per world
        nouns = tax.nouns[sub_idx[i]]
        names.append(f"{brand[i]} {nouns[int(noun_pick[i] * len(nouns))]}{variant[i]}")
    table = pa.table(
        {
            "product_id": pa.array(np.arange(1, n + 1), pa.int32()),
            "sku": pa.array(
                [f"SKU-{i:06d}" for i in rng.permutation(np.arange(100000, 100000 + n))], pa.string()
            ),
            "product_name": pa.array(names, pa.string()),
            "department": pa.array(tax.department[sub_idx].tolist(), pa.string()),
            "category": pa.array(tax.category[sub_idx].tolist(), pa.string()),
            "subcategory": pa.array(tax.subcategory[sub_idx].tolist(), pa.string()),
            "brand": pa.array(brand.tolist(), pa.string()),
            "is_private_label": pa.array(is_pl, pa.bool_()),
            "unit_cost": pa.array(cost, pa.float64()),
            "list_price": pa.array(price_cents / 100, pa.float64()),
            "launch_date": _date_array(start, launch),
        },
        schema=schema.PRODUCTS.arrow_schema(),
    )
    # popularity: Zipf over a random rank inside each subcategory
    rank = np.empty(n)
    for s in range(n_sub):
        members = np.flatnonzero(sub_idx == s)
        rank[members] = rng.permutation(len(members)) + 1
    pop = rank ** (-cfg.products.popularity_zipf)
    pop_sum = np.bincount(sub_idx, weights=pop, minlength=n_sub)
    prod_table = _alias_table(sub_idx, pop / pop_sum[sub_idx], n_sub)
    popularity = prod_table.prob
    established = launch < 0
    anchor = np.full(n_sub, -1, np.int32)
    pl_default = np.full(n_sub, -1, np.int32)
    for s in range(n_sub):
        members = np.flatnonzero((sub_idx == s) & established)
        anchor[s] = members[np.argmax(popularity[members])]
        pl = members[is_pl[members]]
        if len(pl):
            pl_default[s] = pl[np.argmax(popularity[pl])]
    sub_w = rng.gamma(3.0, 1.0, size=n_sub)
    sub_w = sub_w / np.bincount(sub_dept, weights=sub_w, minlength=n_dept)[sub_dept]
    sub_table = _alias_table(sub_dept, sub_w, n_dept)
    dept_share = np.bincount(sub_dept, minlength=n_dept).astype(float)
    dept_share *= _department_weights(cfg, departments)
    dept_share /= dept_share.sum()
    return Products(
        table,
        price_cents,
        price_cents / 100,
        sub_idx,
        launch,
        is_pl,
        n_sub,
        sub_dept,
        n_dept,
        departments,
        dept_share,
        sub_table,
        prod_table,
        popularity,
        anchor,
        pl_default,
    )


def _department_weights(cfg: SimConfig, departments: np.ndarray) -> np.ndarray:
    """``customers.department_weights`` as an array over ``departments`` (1 where not listed)."""
    weights = cfg.customers.department_weights
    unknown = sorted(set(weights) - set(departments.tolist()))
    if unknown:
        raise ConfigError(
            f"customers.department_weights: unknown department(s) {unknown}; "
            f"known departments: {', '.join(departments.tolist())}"
        )
    return np.array([weights.get(d, 1.0) for d in departments.tolist()])


def _alias_table(group: np.ndarray, prob: np.ndarray, n_groups: int, resolution: int = 4096) -> GroupTable:
    """Lookup table to draw a member of a group in O(1): every member gets ``round(p × resolution)`` (≥ 1)
    slots; drawing a uniform slot of the group gives the (quantised) probabilities returned beside it."""
    counts = np.maximum(1, np.round(prob * resolution)).astype(np.int64)
    order = np.lexsort((np.arange(len(group)), group))
    members = np.repeat(order, counts[order])
    sizes = np.bincount(group, weights=counts, minlength=n_groups).astype(np.int64)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    q = counts / sizes[group]
    # 32-bit slots and float sizes: half the memory traffic of the draw, no int -> float conversion per line
    return GroupTable(members.astype(np.int32), offsets.astype(np.int32), sizes.astype(np.float64), q)


@dataclass(frozen=True)
class GroupTable:
    members: np.ndarray  # int32 member index per slot, groups one after another
    offsets: np.ndarray  # int32 first slot of each group
    sizes: np.ndarray  # float64 slots of each group
    prob: np.ndarray  # exact probability of each member within its group

    def draw(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A member of each ``group`` for uniforms ``u`` (int32)."""
        return self.members[self.offsets[group] + (u * self.sizes[group]).astype(np.int32)]


def _build_promotions(
    cfg: SimConfig, start: dt.date, n_days: int, stores: Stores, products: Products
) -> Promotions:
    rng = stream(cfg.seed, "promotions")
    pc = cfg.promotions
    n_chain = rng.poisson(pc.per_month * n_days / 30.4375)
    online = np.flatnonzero(stores.is_online)
    n_web = rng.poisson(n_chain * pc.web_exclusive_share) if len(online) else 0
    n_all = n_chain + n_web
    lo, hi = pc.duration_days
    dur = rng.integers(lo, hi + 1, size=n_all)
    first = rng.integers(-hi, n_days, size=n_all)
    # promote products people buy: sample by popularity across the assortment
    weight = products.popularity * np.bincount(products.sub_idx)[products.sub_idx]
    product = rng.choice(len(products.price), size=n_all, p=weight / weight.sum())
    first = np.maximum(first, products.launch_day[product])  # never before launch
    last = first + dur - 1
    keep = last >= 0
    store = np.concatenate([np.full(n_chain, -1), rng.choice(online, size=n_web) if n_web else []]).astype(
        int
    )
    disc = rng.choice(np.asarray(pc.discounts), size=n_all)
    # no two promotions on one product overlap: drop the later one
    order = np.lexsort((first, product))
    keep_sorted = keep[order].copy()
    last_end: dict[int, int] = {}
    for j, i in enumerate(order):
        if not keep_sorted[j]:
            continue
        p = int(product[i])
        if p in last_end and first[i] <= last_end[p]:
            keep_sorted[j] = False
        else:
            last_end[p] = int(last[i])
    sel = np.sort(order[keep_sorted])
    sel = sel[np.lexsort((product[sel], first[sel]))]
    product, store, first, last, disc = product[sel], store[sel], first[sel], last[sel], disc[sel]
    store_id = pa.array(np.where(store >= 0, store + 1, 0), pa.int32(), mask=store < 0)
    table = pa.table(
        {
            "promotion_id": pa.array(np.arange(1, len(sel) + 1), pa.int32()),
            "product_id": pa.array(product + 1, pa.int32()),
            "store_id": store_id,
            "promo_type": pa.array(np.where(store >= 0, "web_exclusive", "price_cut").tolist(), pa.string()),
            "start_date": _date_array(start, first),
            "end_date": _date_array(start, last),
            "discount_pct": pa.array(disc, pa.float64()),
        },
        schema=schema.PROMOTIONS.arrow_schema(),
    )
    # expand to (product, day) keys within the horizon
    f_clip, l_clip = np.maximum(first, 0), np.minimum(last, n_days - 1)
    lens = np.maximum(l_clip - f_clip + 1, 0)
    promo_rep = np.repeat(np.arange(len(sel)), lens)
    day = f_clip[promo_rep] + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
    # day-major: lines come in time order, so one day's row stays in cache while its lines look it up
    by_day_product = np.full((n_days, len(products.price)), -1, dtype=np.int32)
    by_day_product[day, product[promo_rep]] = promo_rep
    chain = store[promo_rep] < 0
    chain_day, chain_promo = day[chain], promo_rep[chain]
    o2 = np.lexsort((chain_promo, chain_day))
    offsets = np.r_[0, np.cumsum(np.bincount(chain_day, minlength=n_days))]
    return Promotions(table, product, store, first, last, disc, by_day_product, offsets, chain_promo[o2])


def build_world(config: SimConfig) -> World:
    """Build (or fetch from this process's cache) the world of ``config``."""
    return _cached_world(config.model_dump_json())


@functools.lru_cache(maxsize=4)
def _cached_world(config_json: str) -> World:
    cfg = SimConfig.model_validate_json(config_json)
    start, n_days = cfg.horizon.start, cfg.horizon.days
    intens = calendar.intensity(cfg.seasonality, start, n_days)
    stores = _build_stores(cfg, start, n_days)
    products = _build_products(cfg, start, n_days)
    promos = _build_promotions(cfg, start, n_days, stores, products)
    return World(cfg, start, n_days, intens, calendar.cumulative(intens), stores, products, promos)


def promotion_at(world: World, product: np.ndarray, store: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Index of the promotion applying to each (product, store, day), or -1."""
    pr = world.promotions
    promo = pr.by_day_product.ravel()[day * pr.by_day_product.shape[1] + product]
    # store-scoped (web-exclusive) promotions apply in their store only: check the few promoted lines
    hit = np.flatnonzero(promo >= 0)
    scope = pr.store[promo[hit]]
    promo[hit[(scope >= 0) & (scope != store[hit])]] = -1
    return promo
