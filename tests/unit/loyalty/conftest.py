"""Hand-made datasets for the loyalty rules: a few customers and transactions written like an import."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from retailsim import schema
from retailsim.loyalty.config import LoyaltyConfig, build_loyalty_config
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import write_table
from retailsim.storage.manifest import build_manifest, write_manifest

Txn = tuple[int | None, dt.datetime | dt.date | str, float]


def _ts(v: dt.datetime | dt.date | str) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime.combine(v, dt.time(12))
    s = str(v)
    return dt.datetime.fromisoformat(s if len(s) > 10 else s + " 12:00:00")


def write_dataset(
    root: Path,
    customers: Sequence[tuple[int, dt.date | str]],
    txns: Iterable[Txn],
) -> Dataset:
    """Write (or rewrite in place, keeping ``loyalty/``) a dataset with only customers and transactions.

    ``customers``: ``(customer_id, signup_date)``; ``txns``: ``(customer_id or None, timestamp, amount)``.
    """
    root.mkdir(parents=True, exist_ok=True)
    cust_spec, tx_spec = schema.CUSTOMERS, schema.TRANSACTIONS
    ids = [c for c, _ in customers]
    signups = [dt.date.fromisoformat(str(s)) for _, s in customers]
    cols = {c.name: pa.nulls(len(ids), c.type) for c in cust_spec.columns}
    cols["customer_id"] = pa.array(ids, pa.int64())
    cols["signup_date"] = pa.array(signups, pa.date32())
    cust = pa.table(cols, schema=cust_spec.arrow_schema())
    rows = sorted(((c, _ts(t), float(a)) for c, t, a in txns), key=lambda r: r[1])
    n = len(rows)
    tx = pa.table(
        {
            "txn_id": pa.array(range(1, n + 1), pa.int64()),
            "customer_id": pa.array([r[0] for r in rows], pa.int64()),
            "store_id": pa.array([1] * n, pa.int32()),
            "txn_ts": pa.array([r[1] for r in rows], pa.timestamp("ms")),
            "channel": pa.array(["in_store"] * n, pa.string()),
            "payment_method": pa.nulls(n, pa.string()),
            "n_lines": pa.array([1] * n, pa.int32()),
            "n_items": pa.array([1] * n, pa.int32()),
            "gross_amount": pa.array([max(r[2], 0) for r in rows], pa.float64()),
            "discount_amount": pa.array([0.0] * n, pa.float64()),
            "total_amount": pa.array([r[2] for r in rows], pa.float64()),
        },
        schema=tx_spec.arrow_schema(),
    )
    for sub in ("customers", "transactions"):
        for old in (root / sub).glob("*.parquet") if (root / sub).exists() else []:
            old.unlink()
    files = [
        write_table(cust, root, "customers/part-00000.parquet", "customers", "parquet"),
        write_table(tx, root, "transactions/part-00000.parquet", "transactions", "parquet"),
    ]
    absent = {
        "customers": [c.name for c in cust_spec.columns if c.name not in ("customer_id", "signup_date")],
        "transactions": ["store_id", "channel", "payment_method", "n_lines", "n_items"],
    }
    write_manifest(root, build_manifest(files, fmt="parquet", kind="imported", extra={"absent": absent}))
    return Dataset(root)


@pytest.fixture()
def make_ds(tmp_path: Path) -> Callable[..., Dataset]:
    """``make_ds(customers, txns, name="ds")`` writes a dataset under the test's tmp folder."""

    def make(
        customers: Sequence[tuple[int, dt.date | str]], txns: Iterable[Txn], name: str = "ds"
    ) -> Dataset:
        return write_dataset(tmp_path / name, customers, txns)

    return make


def small_rules(**kw: object) -> LoyaltyConfig:
    """Tiers easy to reason about: Silver 100/5, Gold 200/10, Platinum 300/15; 2-month window, grace 2."""
    base: dict[str, object] = {
        "window_months": 2,
        "grace_months": 2,
        "start": "2024-01-01",
        "tiers": [
            {"name": "Bronze"},
            {"name": "Silver", "min_spend": 100, "min_visits": 5},
            {"name": "Gold", "min_spend": 200, "min_visits": 10},
            {"name": "Platinum", "min_spend": 300, "min_visits": 15},
        ],
    }
    base.update(kw)
    return build_loyalty_config(base)


@pytest.fixture()
def rules() -> LoyaltyConfig:
    return small_rules()


@pytest.fixture()
def rules_with() -> Callable[..., LoyaltyConfig]:
    """``rules_with(grace_months=0, ...)``: :func:`small_rules` with changes."""
    return small_rules
