"""The generator's hand-written samplers draw exactly the distributions they stand in for."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from retailsim.config import build_config
from retailsim.generate.population import DeptCDF, draw_traits
from retailsim.generate.shopping import fill_baskets, inverse_cdf, poisson_cdf
from retailsim.generate.world import build_world


def _prefs(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    p = rng.dirichlet(np.full(k, 0.5), size=n)
    p[:, rng.integers(0, k, size=n)[:1]] = 0.0  # some departments never chosen
    p[p.sum(axis=1) == 0, 0] = 1.0
    return p / p.sum(axis=1, keepdims=True)


@given(n=st.integers(1, 40), k=st.sampled_from([1, 2, 3, 12, 15, 16, 17, 33]), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40)
@example(n=17, k=33, seed=15)  # the last department has no preference: u just below 1 must not reach it
def test_department_draw_is_the_inverse_cdf_of_each_shoppers_row(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pref = _prefs(rng, n, k)
    rows = rng.integers(0, n, size=500)
    u = rng.random(500)
    u[:5] = [0.0, np.nextafter(1.0, 0.0), 0.5, 0.25, 0.75]
    got = DeptCDF.build(pref).draw(rows, u)
    cum = np.cumsum(pref, axis=1)
    cum = cum[:, :-1] / cum[:, -1:]  # the table's own normalisation (other float sums differ in the last bit)
    want = np.array([np.searchsorted(cum[r], x, side="right") for r, x in zip(rows, u, strict=True)])
    assert np.array_equal(got, want)
    assert got.min() >= 0 and got.max() <= k - 1
    assert np.all(pref[rows, got] > 0)  # a department with no preference is never drawn


def test_department_draw_frequencies_follow_the_preferences() -> None:
    rng = np.random.default_rng(3)
    pref = _prefs(rng, 3, 12)
    m = 400_000
    rows = np.repeat(np.arange(3), m)
    dept = DeptCDF.build(pref).draw(rows, rng.random(3 * m))
    for r in range(3):
        freq = np.bincount(dept[rows == r], minlength=12) / m
        sd = np.sqrt(pref[r] * (1 - pref[r]) / m)
        assert np.all(np.abs(freq - pref[r]) <= 5 * sd + 1e-12)


@pytest.mark.parametrize("mean", [0.0, 0.3, 0.8, 2.5, 20.0])
def test_poisson_table_is_the_capped_poisson_cdf(mean: float) -> None:
    cdf = poisson_cdf(mean)
    assert len(cdf) == 49 and np.all(np.diff(cdf) >= 0)
    for k in (0, 1, 5, 30):
        want = sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k + 1)) if mean else 1.0
        assert cdf[k] == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("mean", [0.0, 0.3, 0.8, 2.5, 20.0])
def test_inverse_cdf_equals_searchsorted(mean: float) -> None:
    cdf = poisson_cdf(mean)
    u = np.random.default_rng(1).random(50_000)
    u[:3] = [0.0, cdf[0], np.nextafter(1.0, 0.0)]
    assert np.array_equal(inverse_cdf(cdf, u), np.searchsorted(cdf, u, side="right"))


def _baskets(promo_sensitivity: float, visits: int = 60_000):
    cfg = build_config(
        "small",
        sets=[
            "seed=5",
            "baskets.extra_quantity_mean=0.3",
            "baskets.promo_extra_quantity_mean=0.8",
            f"customers.promo_sensitivity.mean={promo_sensitivity}",
            "customers.promo_sensitivity.concentration=10000",
        ],
    )
    world = build_world(cfg)
    rng = np.random.default_rng(0)
    n = 400
    traits = draw_traits(world, rng, n, rng.integers(0, cfg.stores.count, size=n))
    shopper = rng.integers(0, n, size=visits)
    day = np.sort(rng.integers(0, world.n_days, size=visits))
    return world, fill_baskets(world, traits, shopper, day, traits.home_store[shopper], rng)


def test_baskets_line_numbers_discounts_and_amounts() -> None:
    _, b = _baskets(0.1)
    assert b.n_lines.min() >= 1
    first = np.cumsum(b.n_lines) - b.n_lines
    assert np.array_equal(b.line_no, np.arange(len(b.line_no)) - np.repeat(first, b.n_lines) + 1)
    assert np.array_equal(b.visit, np.repeat(np.arange(len(b.n_lines)), b.n_lines))
    assert np.all((b.discount_pct > 0) == (b.promotion >= 0))  # discounts exactly where a promotion applies
    assert np.array_equal(b.discount_cents[b.promotion < 0], np.zeros(int((b.promotion < 0).sum()), np.int64))
    assert np.array_equal(b.amount_cents, b.quantity * b.price_cents - b.discount_cents)


def _assert_poisson(extra: np.ndarray, mean: float) -> None:
    tol = 5 * math.sqrt(mean / len(extra))
    assert extra.mean() == pytest.approx(mean, abs=tol)
    assert extra.var() == pytest.approx(mean, abs=3 * tol)
    assert np.mean(extra == 0) == pytest.approx(math.exp(-mean), abs=0.01)


def test_units_are_one_plus_poisson_with_the_promoted_mean_on_promoted_picks() -> None:
    _, plain = _baskets(0.0001)  # (almost) no promoted picks
    _assert_poisson(plain.quantity - 1, 0.3)
    # (almost) every line of a day with chain promotions is a promoted pick
    world, promoted = _baskets(0.9999)
    picked = (promoted.promotion >= 0) & (world.promotions.store[np.maximum(promoted.promotion, 0)] < 0)
    _assert_poisson(promoted.quantity[picked] - 1, 0.8)
    assert promoted.quantity.max() <= 50
