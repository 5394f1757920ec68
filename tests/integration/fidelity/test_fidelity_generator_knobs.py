"""The config knobs a calibrated twin needs, end to end through the generator (and the oracle)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from retailsim.config import build_config
from retailsim.errors import ConfigError
from retailsim.fidelity.facts import compute_facts
from retailsim.generate.calendar import intensity
from retailsim.generate.oracle import expected_spend, simulate_future_spend
from retailsim.generate.runner import generate
from retailsim.generate.world import build_world


def test_defaults_leave_behaviour_as_it_was() -> None:
    c = build_config("demo").customers
    assert c.signup_window_days is None and c.welcome.boost == 1.0
    assert build_config("demo").products.price_scale == 1.0
    assert build_config("demo").seasonality.month_factors == {}
    assert c.department_weights == {"Home & Leisure": 0.6}


def test_welcome_burst_and_the_oracle_agree(tmp_path: Path) -> None:
    sets = [
        "seed=5",
        "customers.existing_share=0.2",
        "customers.welcome.boost=4",
        "customers.welcome.days=45",
    ]
    ds = generate(build_config("small", sets=sets), tmp_path / "w")
    plain = generate(build_config("small", sets=sets[:2]), tmp_path / "p")
    assert ds.rows("transactions") > 1.1 * plain.rows("transactions")  # the burst adds visits
    o = expected_spend(ds, "2024-07-31", horizon_days=30)
    mc = simulate_future_spend(ds, "2024-07-31", horizon_days=30, n_sims=120, seed=3)
    assert abs(mc["mean_visits"].sum() / o["expected_visits"].sum() - 1) < 0.02
    assert abs(mc["mean_spend"].sum() / o["expected_spend"].sum() - 1) < 0.02
    assert np.corrcoef(o["expected_spend"], mc["mean_spend"])[0, 1] > 0.97
    o_plain = expected_spend(plain, "2024-07-31", horizon_days=30)
    assert o["expected_visits"].sum() > o_plain["expected_visits"].sum()


def test_acquisition_window(tmp_path: Path) -> None:
    cfg = build_config("tiny", sets=["customers.existing_share=0", "customers.signup_window_days=30"])
    ds = generate(cfg, tmp_path / "a")
    con = ds.connect()
    first, last = con.execute("SELECT min(signup_date), max(signup_date) FROM customers").fetchone()
    assert first >= cfg.horizon.start and last < cfg.horizon.start + dt.timedelta(days=30)
    # each new customer buys on the signup day
    late = con.execute("""
        SELECT count(*) FROM customers c JOIN (
          SELECT customer_id, min(txn_ts)::DATE AS f FROM transactions GROUP BY 1) t USING (customer_id)
        WHERE t.f <> c.signup_date""").fetchone()[0]
    assert late == 0


def test_price_scale_scales_prices() -> None:
    base = build_world(build_config("tiny")).products.price
    scaled = build_world(build_config("tiny", sets=["products.price_scale=3"])).products.price
    assert scaled.mean() / base.mean() == pytest.approx(3, rel=0.01)


def test_month_factors_multiply_one_month() -> None:
    plain = build_config("tiny").seasonality
    bumped = build_config("tiny", sets=['seasonality.month_factors={"2024-02": 2.5}']).seasonality
    a, b = (intensity(s, dt.date(2024, 1, 1), 91) for s in (plain, bumped))
    assert (
        np.allclose(b[31:60] / a[31:60], 2.5) and np.allclose(b[:31], a[:31]) and np.allclose(b[60:], a[60:])
    )
    with pytest.raises(ConfigError, match="YYYY-MM"):
        build_config("tiny", sets=['seasonality.month_factors={"Feb": 2}'])


def test_department_weights_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown department"):
        build_world(build_config("tiny", sets=['customers.department_weights={"Shoes": 2}']))
    with pytest.raises(ConfigError, match="department_weights"):
        build_config("tiny", sets=['customers.department_weights={"Bakery": 0}'])


def test_no_promotions(tmp_path: Path) -> None:
    ds = generate(build_config("tiny", sets=["promotions.per_month=0"]), tmp_path / "np")
    assert ds.rows("promotions") == 0
    assert compute_facts(ds, only=["promotion_share"]).values["promotion_share"] == 0.0
