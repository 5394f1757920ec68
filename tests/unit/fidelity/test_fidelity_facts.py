"""Every fact on a tiny hand-made dataset whose values are computed by hand (exact)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fidelity_support import ts, write_dataset
from retailsim.fidelity.facts import (
    CORE_FACTS,
    FACT_INDEX,
    FACTS,
    available,
    compute_facts,
    core_facts,
    facts_markdown,
    format_value,
    observed_period,
)
from retailsim.storage.dataset import Dataset

START, END = dt.date(2023, 1, 1), dt.date(2024, 1, 1)

# (txn_id, customer, day, amount, n_items, n_lines); weekdays: Mon, Thu, Fri, Sat, Wed, Sun, Fri, Sun
TXNS = [
    (1, 1, "2023-01-02", 10.0, 1, 1),
    (2, 1, "2023-01-05", 20.0, 2, 1),
    (3, 1, "2023-02-10", 30.0, 3, 2),
    (4, 2, "2023-01-07", 40.0, 4, 2),
    (5, 3, "2023-03-01", 5.0, 1, 1),
    (6, 3, "2023-12-24", 15.0, 2, 1),
    (7, 4, "2023-12-01", 100.0, 10, 3),
    (8, None, "2023-06-04", 50.0, 5, 2),
]
SIGNUPS = {1: "2023-01-02", 2: "2023-01-07", 3: "2023-03-01", 4: "2023-12-01"}
LINES = [  # txn, line, product, qty, unit price, promotion, amount
    (1, 1, 1, 1, 2.0, None, 2.0),
    (2, 1, 2, 2, 4.0, 1, 8.0),
    (3, 1, 3, 1, 10.0, None, 10.0),
    (3, 2, 1, 5, 2.0, None, 10.0),
]
PRODUCTS = [(1, "A", True), (2, "B", False), (3, "A", False)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    tables = {
        "customers": [
            {"customer_id": c, "signup_date": dt.date.fromisoformat(d)} for c, d in SIGNUPS.items()
        ],
        "transactions": [
            {
                "txn_id": t,
                "customer_id": c,
                "txn_ts": ts(d),
                "total_amount": a,
                "n_items": items,
                "n_lines": lines,
            }
            for t, c, d, a, items, lines in TXNS
        ],
        "transaction_lines": [
            {
                "txn_id": t,
                "line_no": n,
                "product_id": p,
                "quantity": q,
                "unit_price": u,
                "promotion_id": pr,
                "line_amount": a,
            }
            for t, n, p, q, u, pr, a in LINES
        ],
        "products": [{"product_id": p, "department": d, "is_private_label": pl} for p, d, pl in PRODUCTS],
    }
    return write_dataset(tmp_path_factory.mktemp("facts") / "ds", tables, start=START, end=END)


@pytest.fixture(scope="module")
def facts(tiny: Dataset) -> dict[str, object]:
    return compute_facts(tiny).values


def test_counts(facts: dict[str, object]) -> None:
    assert facts["customers"] == 4
    assert facts["transactions"] == 8
    assert facts["lines"] == 4
    assert facts["revenue"] == pytest.approx(270.0)
    assert facts["anonymous_share"] == pytest.approx(1 / 8)


def test_purchase_frequency(facts: dict[str, object]) -> None:
    # purchases per customer: 3, 1, 2, 1
    assert facts["one_time_buyer_share"] == pytest.approx(0.5)
    assert facts["purchases_per_customer_mean"] == pytest.approx(1.75)
    assert facts["purchases_per_customer_median"] == pytest.approx(1.5)
    assert facts["purchases_per_customer_p90"] == pytest.approx(2.7)  # 2 + 0.7 × (3 − 2)
    assert facts["frequency_skew"] == pytest.approx(1.75 / 1.5)
    dist = facts["frequency_distribution"]
    assert isinstance(dist, dict)
    assert dist["1"] == pytest.approx(0.5) and dist["2"] == pytest.approx(0.25)
    assert dist["3"] == pytest.approx(0.25) and dist["51+"] == 0
    assert sum(dist.values()) == pytest.approx(1.0)


def test_repeat_within_90_days(facts: dict[str, object]) -> None:
    # eligible (first purchase ≥ 90 days before 2023-12-31): customers 1, 2, 3; only 1 repeats in time
    assert facts["repeat_within_90d"] == pytest.approx(1 / 3)


def test_interpurchase_times(facts: dict[str, object]) -> None:
    # gaps: customer 1: 3 and 36 days; customer 3: 298 days
    assert facts["median_interpurchase_days"] == pytest.approx(36)
    assert facts["p90_interpurchase_days"] == pytest.approx(36 + 0.8 * (298 - 36))
    dist = facts["interpurchase_distribution"]
    assert isinstance(dist, dict)
    assert dist["1-7"] == pytest.approx(1 / 3)
    assert dist["31-60"] == pytest.approx(1 / 3)
    assert dist["181-365"] == pytest.approx(1 / 3)
    assert dist["0"] == 0


def test_revenue_concentration(facts: dict[str, object]) -> None:
    # revenue per customer: 60, 40, 20, 100 (anonymous excluded), total 220
    assert facts["top20_revenue_share"] == pytest.approx(100 / 220)
    assert facts["top1_revenue_share"] == pytest.approx(100 / 220)
    assert facts["revenue_gini"] == pytest.approx(260 / 880)  # Σ(2i − n − 1)·x / (n·Σx), x ascending
    lorenz = facts["lorenz_curve"]
    assert isinstance(lorenz, dict)
    assert lorenz["0.00"] == 0 and lorenz["1.00"] == pytest.approx(1.0)
    assert lorenz["0.25"] == pytest.approx(20 / 220)
    assert lorenz["0.50"] == pytest.approx(60 / 220)
    assert lorenz["0.75"] == pytest.approx(120 / 220)
    assert lorenz["0.20"] == 0  # ⌊0.2 × 4⌋ = 0 customers


def test_baskets(facts: dict[str, object]) -> None:
    assert facts["transaction_value_mean"] == pytest.approx(270 / 8)
    assert facts["transaction_value_median"] == pytest.approx(25.0)
    assert facts["transaction_value_p90"] == pytest.approx(65.0)  # 50 + 0.3 × 50
    assert facts["basket_size_mean"] == pytest.approx(28 / 8)
    assert facts["basket_size_median"] == pytest.approx(2.5)
    assert facts["basket_small_share"] == pytest.approx(0.5)
    assert facts["lines_per_transaction_mean"] == pytest.approx(13 / 8)
    dist = facts["basket_size_distribution"]
    assert isinstance(dist, dict)
    assert dist["1"] == pytest.approx(0.25) and dist["10"] == pytest.approx(0.125)


def test_calendar(facts: dict[str, object]) -> None:
    profile = facts["weekday_profile"]
    assert profile == pytest.approx(
        {"Mon": 0.125, "Tue": 0, "Wed": 0.125, "Thu": 0.125, "Fri": 0.25, "Sat": 0.125, "Sun": 0.25}
    )
    assert facts["weekend_share"] == pytest.approx(3 / 8)
    assert facts["weekly_shape"] is None  # no transaction on a Tuesday: the ratio is undefined
    rates = {"Jan": 3 / 31, "Feb": 1 / 28, "Mar": 1 / 31, "Jun": 1 / 30, "Dec": 2 / 31}
    total = sum(rates.values())
    monthly = facts["monthly_profile"]
    assert isinstance(monthly, dict) and len(monthly) == 12
    for m, v in monthly.items():
        assert v == pytest.approx(rates.get(m, 0.0) / total)
    assert facts["peak_trough_ratio"] is None  # months without transactions
    # December revenue 115 / (270 / 12)
    assert facts["december_lift"] == pytest.approx(115 / 22.5)


def test_cohort_retention(facts: dict[str, object]) -> None:
    # cohorts: Jan (customers 1, 2), Mar (3), Dec (4, whose later months are not observed)
    assert facts["cohort_retention_1m"] == pytest.approx(1 / 3)  # Feb: customer 1; Apr: nobody
    assert facts["cohort_retention_3m"] == 0.0  # a real zero: observed, nobody active
    assert facts["cohort_retention_6m"] == 0.0
    assert facts["cohort_retention_12m"] is None  # month 12 of no cohort is observed
    curve = facts["cohort_retention_curve"]
    assert isinstance(curve, dict)
    assert curve["0"] == pytest.approx(1.0)
    assert curve["9"] == pytest.approx(1 / 3)  # March cohort in December
    assert curve["11"] == 0.0
    assert "12" not in curve


def test_lines_and_assortment(facts: dict[str, object]) -> None:
    assert facts["unit_price_mean"] == pytest.approx(4.5)
    assert facts["unit_price_median"] == pytest.approx(3.0)
    assert facts["promotion_share"] == pytest.approx(0.25)
    assert facts["private_label_share"] == pytest.approx(12 / 30)
    assert facts["top_category_share"] == pytest.approx(22 / 30)
    assert facts["category_shares"] == pytest.approx({"A": 22 / 30, "B": 8 / 30})


def test_every_fact_is_reported(facts: dict[str, object]) -> None:
    assert set(facts) == {f.id for f in FACTS}
    json.dumps(facts)  # plain JSON: no NaN, no numpy types


def test_absent_tables_and_columns_give_not_available(tmp_path: Path) -> None:
    tables = {
        "customers": [{"customer_id": 1, "signup_date": dt.date(2023, 1, 2)}],
        "transactions": [
            {"txn_id": 1, "customer_id": 1, "txn_ts": ts("2023-01-02"), "total_amount": 5.0},
            {"txn_id": 2, "customer_id": 1, "txn_ts": ts("2023-01-09"), "total_amount": 7.0},
        ],
    }
    ds = write_dataset(
        tmp_path / "ds",
        tables,
        start=dt.date(2023, 1, 2),
        end=dt.date(2023, 1, 10),
        kind="imported",
        absent={"transactions": ["n_items", "n_lines", "store_id"]},
    )
    f = compute_facts(ds).values
    for fid in (
        "lines",
        "basket_size_mean",
        "basket_small_share",
        "lines_per_transaction_mean",
        "unit_price_mean",
        "promotion_share",
        "private_label_share",
        "top_category_share",
        "category_shares",
        "december_lift",  # no full calendar year
        "cohort_retention_1m",  # January is not wholly observed
    ):
        assert f[fid] is None, fid
    assert f["transactions"] == 2 and f["median_interpurchase_days"] == 7
    assert not available(ds, FACT_INDEX["basket_size_mean"])
    assert available(ds, FACT_INDEX["one_time_buyer_share"])


def test_empty_transactions_give_no_numbers(tmp_path: Path) -> None:
    ds = write_dataset(
        tmp_path / "ds",
        {"customers": [], "transactions": []},
        start=START,
        end=END,
    )
    f = compute_facts(ds).values
    assert f["transactions"] == 0 and f["customers"] == 0
    assert f["one_time_buyer_share"] is None and f["top20_revenue_share"] is None
    assert f["weekday_profile"] is None and f["lorenz_curve"] is None


def test_observed_period_from_manifest_or_data(tiny: Dataset, tmp_path: Path) -> None:
    assert observed_period(tiny) == (START, END)
    ds = write_dataset(
        tmp_path / "ds",
        {"transactions": [{"txn_id": 1, "customer_id": 1, "txn_ts": ts("2023-05-06"), "total_amount": 1.0}]},
        start=START,
        end=END,
    )
    del ds.manifest["horizon"]
    assert observed_period(ds) == (dt.date(2023, 5, 6), dt.date(2023, 5, 7))


def test_core_facts_are_a_subset(tiny: Dataset, facts: dict[str, object]) -> None:
    core = core_facts(tiny)
    assert set(core) == {f.id for f in CORE_FACTS}
    for k, v in core.items():
        assert v == pytest.approx(facts[k]) if v is not None else facts[k] is None


def test_only_and_shared_connection(tiny: Dataset) -> None:
    con = tiny.connect()
    report = compute_facts(tiny, only=["weekend_share"], con=con)
    assert list(report.values) == ["weekend_share"]
    # the caller's connection is left clean and usable
    assert con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 8
    assert "_t" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def test_json_and_formatting(tiny: Dataset, tmp_path: Path) -> None:
    report = compute_facts(tiny)
    report.write_json(tmp_path / "f.json")
    data = json.loads((tmp_path / "f.json").read_text())
    assert data["observed"] == {"start": "2023-01-01", "end": "2024-01-01"}
    assert data["facts"]["cohort_retention_12m"] is None
    assert format_value(FACT_INDEX["one_time_buyer_share"], 0.5) == "50.0%"
    assert format_value(FACT_INDEX["customers"], 1234) == "1,234"
    assert format_value(FACT_INDEX["weekly_shape"], None) == "n/a"


def test_docs_facts_md_is_current() -> None:
    doc = Path(__file__).parents[3] / "docs" / "facts.md"
    assert doc.read_text(encoding="utf-8") == facts_markdown(), (
        "docs/facts.md is stale: python -m retailsim.fidelity.facts > docs/facts.md"
    )
