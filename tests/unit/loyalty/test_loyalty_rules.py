"""The tier rules on hand-made data: thresholds, upgrades, grace-period downgrades, enrolment, rank mode."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import pytest

from retailsim.loyalty import history_as_of, read_history, replay, tiers_as_of, tiers_at
from retailsim.loyalty.config import LoyaltyConfig
from retailsim.loyalty.engine import month_end, review_dates
from retailsim.storage.dataset import Dataset

MakeDs = Callable[..., Dataset]
D = dt.date


def tier_of(ds: Dataset, as_of: str | dt.date, cfg: LoyaltyConfig) -> dict[int, str]:
    f = tiers_as_of(ds, as_of, cfg)
    return dict(zip(f["customer_id"], f["tier"], strict=True))


def month_ends(first: str, last: str) -> list[dt.date]:
    cfg = LoyaltyConfig()
    return review_dates(cfg, dt.date.fromisoformat(first), dt.date.fromisoformat(last))


# ------------------------------------------------------------------------- thresholds
DEFAULT = LoyaltyConfig().model_copy(update={"start": D(2024, 1, 1)})
SPEND_CASES = [(t.name, t.min_spend, DEFAULT.tiers[i].name) for i, t in enumerate(DEFAULT.tiers) if i > 0]
VISIT_CASES = [(t.name, t.min_visits, DEFAULT.tiers[i].name) for i, t in enumerate(DEFAULT.tiers) if i > 0]


@pytest.mark.parametrize(("tier", "threshold", "_"), SPEND_CASES)
def test_spend_boundary_at_each_default_threshold(
    make_ds: MakeDs, tier: str, threshold: float, _: str
) -> None:
    below = DEFAULT.tier_names[DEFAULT.rank_of(tier) - 1]
    ds = make_ds(
        [(1, "2023-06-01"), (2, "2023-06-01"), (3, "2023-06-01")],
        [
            (1, "2024-05-10", threshold),  # exactly the threshold: qualifies
            (2, "2024-05-10", threshold - 0.01),  # one cent short: the tier below
            (3, "2024-05-10", threshold / 2),  # two purchases adding up to the threshold
            (3, "2024-05-20", threshold / 2),
        ],
    )
    got = tier_of(ds, "2024-12-31", DEFAULT)
    assert got == {1: tier, 2: below, 3: tier}


@pytest.mark.parametrize(("tier", "threshold", "_"), VISIT_CASES)
def test_visit_boundary_at_each_default_threshold(make_ds: MakeDs, tier: str, threshold: int, _: str) -> None:
    below = DEFAULT.tier_names[DEFAULT.rank_of(tier) - 1]
    days = [D(2024, 1, 1) + dt.timedelta(days=i) for i in range(threshold)]
    txns = [(1, d, 0.01) for d in days] + [(2, d, 0.01) for d in days[:-1]]
    txns += [(2, days[0], 0.01)]  # a second basket on a day already counted is not another visit
    ds = make_ds([(1, "2023-06-01"), (2, "2023-06-01")], txns)
    assert tier_of(ds, "2024-12-31", DEFAULT) == {1: tier, 2: below}
    by_txn = DEFAULT.model_copy(update={"visits": "transactions"})
    assert tier_of(ds, "2024-12-31", by_txn) == {1: tier, 2: tier}


def test_combine_all_needs_both_spend_and_visits(
    make_ds: MakeDs, rules_with: Callable[..., LoyaltyConfig]
) -> None:
    days = [D(2024, 1, 1) + dt.timedelta(days=i) for i in range(5)]
    ds = make_ds(
        [(1, "2023-01-01"), (2, "2023-01-01"), (3, "2023-01-01")],
        [(1, days[0], 150.0)] + [(2, d, 1.0) for d in days] + [(3, d, 30.0) for d in days],
    )
    any_ = rules_with()
    all_ = rules_with(combine="all")
    assert tier_of(ds, "2024-01-31", any_) == {1: "Silver", 2: "Silver", 3: "Silver"}
    assert tier_of(ds, "2024-01-31", all_) == {1: "Bronze", 2: "Bronze", 3: "Silver"}


def test_net_spend_counts_returns_and_visits_only_purchases(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(
        [(1, "2023-01-01")],
        [(1, "2024-01-05", 250.0), (1, "2024-01-06", -60.0)],  # 190 net: Silver, not Gold
    )
    assert tier_of(ds, "2024-01-31", rules) == {1: "Silver"}
    h = read_history(replay(ds, to="2024-01-31", config=rules).dataset)
    row = h[h["change"] == "upgrade"].iloc[0]
    assert row["window_spend"] == pytest.approx(190.0) and row["window_visits"] == 1


# ------------------------------------------------------------------ upgrades, downgrades
def test_upgrade_at_once_and_grace_period_downgrade_one_tier_per_review(
    make_ds: MakeDs, rules: LoyaltyConfig
) -> None:
    # 2-month window, grace 2 months: Platinum in January, nothing after
    ds = make_ds([(1, "2023-01-01")], [(1, "2024-01-10", 350.0)])
    expected = {
        "2024-01-31": "Platinum",  # Bronze -> Platinum in one review: upgrades apply at once
        "2024-02-29": "Platinum",  # January still in the window
        "2024-03-31": "Platinum",  # no longer qualifies: grace starts (below since March)
        "2024-04-30": "Platinum",  # 1 month below < grace of 2
        "2024-05-31": "Gold",  # grace over: one tier down
        "2024-06-30": "Silver",  # one more per review
        "2024-07-31": "Bronze",
        "2024-08-31": "Bronze",
    }
    f = tiers_at(ds, list(expected), rules)
    got = {d.date().isoformat(): t for d, t in zip(f["as_of"], f["tier"], strict=True)}
    assert got == expected
    replay(ds, to="2024-08-31", config=rules)
    h = read_history(ds)
    assert list(h["tier"]) == ["Bronze", "Platinum", "Gold", "Silver", "Bronze"]
    assert list(h["change"]) == ["enrol", "upgrade", "downgrade", "downgrade", "downgrade"]
    downs = h[h["change"] == "downgrade"]
    assert set(downs["below_since"].dt.date) == {D(2024, 3, 31)}
    assert set(downs["qualified_tier"]) == {"Bronze"}
    assert "grace" in downs["reason"].iloc[0]


def test_requalifying_during_grace_cancels_the_downgrade(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(
        [(1, "2023-01-01")],
        [(1, "2024-01-10", 350.0), (1, "2024-04-10", 350.0)],  # back in April, inside the grace period
    )
    f = tiers_at(ds, month_ends("2024-01-01", "2024-09-30"), rules)
    tiers = list(f["tier"])
    # Jan..Jun Platinum (April purchase resets the grace; below again from June), Jul Platinum, Aug Gold
    assert tiers == ["Platinum"] * 7 + ["Gold", "Silver"]


def test_max_down_per_review_and_zero_grace(
    make_ds: MakeDs, rules_with: Callable[..., LoyaltyConfig]
) -> None:
    ds = make_ds([(1, "2023-01-01")], [(1, "2024-01-10", 350.0)])
    dates = month_ends("2024-01-01", "2024-06-30")
    fast = rules_with(grace_months=0, max_down_per_review=2)
    assert list(tiers_at(ds, dates, fast)["tier"]) == [
        "Platinum",
        "Platinum",
        "Silver",
        "Bronze",
        "Bronze",
        "Bronze",
    ]
    no_grace = rules_with(grace_months=0)
    assert list(tiers_at(ds, dates, no_grace)["tier"]) == [
        "Platinum",
        "Platinum",
        "Gold",
        "Silver",
        "Bronze",
        "Bronze",
    ]


def test_partial_drop_stops_at_the_qualified_tier(
    make_ds: MakeDs, rules_with: Callable[..., LoyaltyConfig]
) -> None:
    # Platinum in January, then steady Silver-level spend: falls to Silver and stays there
    txns = [(1, "2024-01-10", 350.0)] + [(1, D(2024, m, 15), 60.0) for m in range(2, 9)]
    ds = make_ds([(1, "2023-01-01")], txns)
    f = tiers_at(ds, month_ends("2024-01-01", "2024-08-31"), rules_with(grace_months=0))
    assert list(f["tier"]) == [
        "Platinum",
        "Platinum",
        "Gold",
        "Silver",
        "Silver",
        "Silver",
        "Silver",
        "Silver",
    ]


# -------------------------------------------------------------------- enrolment, no purchases
def test_customers_without_purchases_and_new_customers(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(
        [(1, "2023-01-01"), (2, "2024-03-10"), (3, "2024-03-31"), (4, "2024-05-02")],
        [(2, "2024-03-12", 120.0), (3, "2024-03-31", 320.0), (None, "2024-03-15", 999.0)],
    )
    replay(ds, to="2024-04-30", config=rules)
    h = read_history(ds)
    rows = {
        c: list(zip(g["valid_from"].dt.date, g["tier"], g["change"], strict=True))
        for c, g in h.groupby("customer_id")
    }
    assert rows[1] == [(D(2024, 1, 1), "Bronze", "enrol")]  # never bought: base tier, one spell
    assert rows[2] == [(D(2024, 3, 10), "Bronze", "enrol"), (D(2024, 3, 31), "Silver", "upgrade")]
    assert rows[3] == [(D(2024, 3, 31), "Platinum", "enrol")]  # joined on a review day: placed directly
    assert 4 not in rows  # signs up after the end of the run
    assert tier_of(ds, "2024-03-09", rules) == {1: "Bronze"}  # not yet known customers are left out
    assert tier_of(ds, "2024-03-20", rules) == {1: "Bronze", 2: "Bronze"}  # new: base until the review
    # the anonymous 999 belongs to nobody
    assert h["window_spend"].max() == pytest.approx(320.0)


def test_imported_log_without_signups(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds([], [(7, "2024-02-03", 150.0), (8, "2024-04-01", 20.0)], name="log")
    f = tiers_as_of(ds, "2024-03-31", rules)
    assert f.to_dict("list") == {"customer_id": [7], "tier": ["Silver"], "tier_rank": [1]}
    assert tier_of(ds, "2024-04-30", rules) == {7: "Silver", 8: "Bronze"}


def test_quarterly_cadence_reviews_on_quarter_ends(
    make_ds: MakeDs, rules_with: Callable[..., LoyaltyConfig]
) -> None:
    cfg = rules_with(cadence="quarterly", window_months=3)
    assert review_dates(cfg, D(2024, 1, 1), D(2024, 12, 31)) == [
        D(2024, 3, 31),
        D(2024, 6, 30),
        D(2024, 9, 30),
        D(2024, 12, 31),
    ]
    ds = make_ds([(1, "2023-01-01")], [(1, "2024-01-10", 350.0)])
    assert tier_of(ds, "2024-02-29", cfg) == {1: "Bronze"}  # no review yet
    assert tier_of(ds, "2024-03-31", cfg) == {1: "Platinum"}


# ----------------------------------------------------------------------------- rank mode
def test_rank_mode_quartiles_of_average_monthly_spend(
    make_ds: MakeDs, rules_with: Callable[..., LoyaltyConfig]
) -> None:
    cfg = rules_with(mode="rank", grace_months=0)
    spends = {i: 10.0 * i for i in range(1, 9)}  # customers 1..8 spend 10..80; 9 never buys
    ds = make_ds(
        [(i, "2023-01-01") for i in range(1, 10)],
        [(i, "2024-01-15", s) for i, s in spends.items()],
    )
    got = tier_of(ds, "2024-01-31", cfg)
    # 9 customers: top 25% (share above < 0.25: 3 customers) Platinum, and so on; zero spend is base
    assert got[8] == got[7] == got[6] == "Platinum"
    assert got[5] == got[4] == "Gold"
    assert got[3] == got[2] == "Silver"
    assert got[1] == "Bronze" and got[9] == "Bronze"
    replay(ds, to="2024-01-31", config=cfg)
    h = read_history(ds)
    top = h[(h["customer_id"] == 8) & (h["change"] == "upgrade")].iloc[0]
    assert top["rank_share_above"] == 0 and top["mode"] == "rank" and top["tier"] == "Platinum"
    assert top["avg_monthly_spend"] == pytest.approx(80.0)
    assert "ranked above" in top["reason"]


def test_rank_mode_ties_share_a_tier_and_tenure_scales_the_average(
    make_ds: MakeDs, rules_with: Callable[..., LoyaltyConfig]
) -> None:
    cfg = rules_with(
        mode="rank", grace_months=0, rank={"shares": {"Platinum": 0.25, "Gold": 0.25, "Silver": 0.25}}
    )
    ds = make_ds(
        [(1, "2023-01-01"), (2, "2023-01-01"), (3, "2024-02-01"), (4, "2023-01-01")],
        [
            (1, "2024-01-10", 50.0),
            (1, "2024-02-10", 50.0),
            (2, "2024-02-10", 50.0),
            (3, "2024-02-10", 50.0),
            (4, "2024-02-10", 5.0),
        ],
    )
    got = tier_of(ds, "2024-02-29", cfg)
    # 1: 100 over 2 months = 50/month; 3 joined in February: 50 over 1 month = 50/month (a tie, both top);
    # 2: 25/month with two customers above (50%) -> Silver; 4: 2.50/month, 75% above -> Bronze
    assert got == {1: "Platinum", 3: "Platinum", 2: "Silver", 4: "Bronze"}


# ------------------------------------------------------------------ as-of and leakage
def test_tiers_as_of_equals_the_stored_history_on_every_day(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    txns = [
        (c, D(2024, 1, 1) + dt.timedelta(days=(c * 37 + k * 11) % 180), 20.0 + c * k % 70)
        for c in range(1, 30)
        for k in range(c % 9)
    ]
    ds = make_ds([(c, D(2023, 12, 1) + dt.timedelta(days=7 * c)) for c in range(1, 30)], txns)
    replay(ds, to="2024-06-30", config=rules)
    for day in [
        D(2024, 1, 1),
        D(2024, 1, 30),
        D(2024, 1, 31),
        D(2024, 3, 15),
        D(2024, 4, 30),
        D(2024, 6, 30),
    ]:
        a = tiers_as_of(ds, day, rules)
        b = history_as_of(ds, day)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_leakage_free_transactions_after_the_cutoff_change_nothing(
    make_ds: MakeDs, rules: LoyaltyConfig
) -> None:
    custs = [(1, "2023-01-01"), (2, "2023-01-01")]
    base = [(1, "2024-01-10", 150.0), (2, "2024-02-10", 90.0)]
    ds = make_ds(custs, base, name="a")
    cut = "2024-02-29"
    before = tiers_as_of(ds, cut, rules)
    later = [(2, "2024-03-01 00:00:00", 5000.0), (1, "2024-05-01", -150.0), (3, "2024-03-02", 400.0)]
    ds2 = make_ds([*custs, (3, "2024-03-01")], base + later, name="b")
    pd.testing.assert_frame_equal(tiers_as_of(ds2, cut, rules), before)
    # ... but a purchase on the cut-off day itself counts
    ds3 = make_ds(custs, [*base, (2, "2024-02-29 23:59:59", 20.0)], name="c")
    assert tier_of(ds3, cut, rules) == {1: "Silver", 2: "Silver"}
    assert dict(zip(before["customer_id"], before["tier"], strict=True)) == {1: "Silver", 2: "Bronze"}


def test_before_the_first_review_and_the_programme_start(
    make_ds: MakeDs, rules_with: Callable[..., LoyaltyConfig]
) -> None:
    cfg = rules_with(start="2024-03-01")
    ds = make_ds([(1, "2023-01-01")], [(1, "2024-01-10", 350.0), (1, "2024-03-05", 350.0)])
    assert tier_of(ds, "2024-02-15", cfg) == {1: "Bronze"}  # known, programme not started: base tier
    assert tier_of(ds, "2024-03-31", cfg) == {1: "Platinum"}
    assert month_end(2024 * 12 + 1) == D(2024, 2, 29)
