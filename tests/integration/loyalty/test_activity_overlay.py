"""Today's basket updates the cached loyalty activity in place of a full rescan: the arrays must be exactly
those a full scan of the dataset with the basket added gives."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from retailsim import schema
from retailsim.loyalty.engine import _compute_activity, load_activity, with_transactions
from retailsim.ml.basket import OverlayDataset
from retailsim.storage.dataset import Dataset


def _rows(items: list[tuple[int, dt.datetime, float | None]]) -> pa.Table:
    n = len(items)
    spec = schema.TRANSACTIONS
    cols = {c.name: pa.nulls(n, c.type) for c in spec.columns}
    cols["txn_id"] = pa.array(range(10**12, 10**12 + n), pa.int64())
    cols["customer_id"] = pa.array([c for c, _, _ in items], pa.int64())
    cols["txn_ts"] = pa.array([t for _, t, _ in items], pa.timestamp("us"))
    cols["total_amount"] = pa.array([a for _, _, a in items], pa.float64())
    fields = [pa.field(c.name, c.type, nullable=True) for c in spec.columns]
    return pa.table(cols, schema=pa.schema(fields))


def _case(ds: Dataset, kind: str) -> list[tuple[int, dt.datetime, float | None]]:
    con = ds.connect()
    try:
        cid, day = con.execute(
            "SELECT customer_id, CAST(txn_ts AS DATE) FROM transactions WHERE customer_id IS NOT NULL "
            "AND total_amount > 0 ORDER BY txn_id LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        quiet = con.execute(
            "SELECT min(customer_id) FROM customers WHERE customer_id NOT IN "
            "(SELECT customer_id FROM transactions WHERE customer_id IS NOT NULL)"
        ).fetchone()[0]  # type: ignore[index]
        last = con.execute("SELECT max(CAST(txn_ts AS DATE)) FROM transactions").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    noon = dt.datetime.combine(day, dt.time(12))
    return {
        "same day as a purchase": [(cid, noon, 12.34)],
        "refund and purchase": [
            (cid, noon + dt.timedelta(days=3), -5.0),
            (cid, noon + dt.timedelta(days=3), 7.5),
        ],
        "refund only": [(cid, noon + dt.timedelta(days=40), -5.0)],
        "a month after the data": [
            (cid, dt.datetime.combine(last, dt.time(9)) + dt.timedelta(days=35), 20.0)
        ],
        "first purchase of a customer": [(quiet if quiet is not None else cid, noon, 3.0)],
        "two customers, one basket each": [(cid, noon, 1.0), (cid + 1, noon + dt.timedelta(days=1), 2.0)],
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "same day as a purchase",
        "refund and purchase",
        "refund only",
        "a month after the data",
        "first purchase of a customer",
        "two customers, one basket each",
    ],
)
def test_activity_with_transactions_equals_a_full_scan(tiny_dataset: Dataset, kind: str) -> None:
    rows = _rows(_case(tiny_dataset, kind))
    overlay = OverlayDataset(tiny_dataset, {"transactions": rows})
    got = with_transactions(load_activity(tiny_dataset), tiny_dataset, rows)
    want = _compute_activity(overlay)
    assert got is not None
    for name in (
        "customer_id",
        "activity_day",
        "row_customer",
        "row_month",
        "row_spend",
        "row_days",
        "row_txns",
    ):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    np.testing.assert_array_equal(got.month_lo, want.month_lo)
    assert (got.month0, got.data_start, got.data_end) == (want.month0, want.data_start, want.data_end)


def test_unknown_customer_falls_back_to_a_full_scan(tiny_dataset: Dataset) -> None:
    rows = _rows([(10**9, dt.datetime(2024, 3, 1, 10), 5.0)])
    assert with_transactions(load_activity(tiny_dataset), tiny_dataset, rows) is None


def test_imported_log_bounds_follow_the_basket(tmp_path_factory: pytest.TempPathFactory) -> None:
    """An imported log has no simulated horizon: its first and last days are those of its transactions."""
    from pathlib import Path

    from retailsim.fidelity.importer import import_log

    csv = Path(__file__).resolve().parents[2] / "data" / "cdnow_sample" / "cdnow_sample.csv"
    ds = import_log(
        csv,
        tmp_path_factory.mktemp("cdnow") / "cdnow",
        mapping={"customer_id": "cust", "timestamp": "date", "amount": "dollars", "quantity": "cds"},
        date_format="%Y%m%d",
    ).dataset
    act = load_activity(ds)
    assert act.data_end is not None
    later = dt.datetime.combine(act.data_end, dt.time(10)) + dt.timedelta(days=20)
    rows = _rows([(int(act.customer_id[0]), later, 15.0)])
    got = with_transactions(act, ds, rows)
    want = _compute_activity(OverlayDataset(ds, {"transactions": rows}))
    assert got is not None and got.data_end == want.data_end == later.date()
    np.testing.assert_array_equal(got.row_spend, want.row_spend)
    np.testing.assert_array_equal(got.month_lo, want.month_lo)
