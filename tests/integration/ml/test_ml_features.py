"""The modelling table: leakage-free features, complete population, labels matching the oracle's window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retailsim.ml.errors import NotEnoughDataError, SchemaMismatchError
from retailsim.ml.features import (
    LABEL,
    build_features,
    candidate_cutoffs,
    plan_cutoffs,
    plan_features,
)
from retailsim.storage.dataset import Dataset

CUTOFF = dt.date(2024, 5, 31)
AFTER = pa.scalar(dt.datetime(2024, 6, 1), pa.timestamp("ms"))


def _features(ds: Dataset, cutoffs: list[dt.date]) -> pd.DataFrame:
    spec = plan_features(ds)
    return build_features(ds, cutoffs, spec, sequences=True)


def test_changing_or_deleting_transactions_after_the_cutoff_changes_no_feature(
    tiny_dataset: Dataset, tmp_path: Path, rewrite: Callable[..., Dataset]
) -> None:
    cutoffs = [dt.date(2024, 3, 31), CUTOFF]
    base = _features(tiny_dataset, cutoffs)

    rng = np.random.default_rng(0)

    def mangle(t: pa.Table) -> pa.Table:
        after = pc.greater_equal(t["txn_ts"], AFTER).to_numpy(zero_copy_only=False)
        keep = ~after | (rng.random(t.num_rows) < 0.5)  # delete half of the later transactions
        t = t.filter(pa.array(keep))
        after = pc.greater_equal(t["txn_ts"], AFTER).to_numpy(zero_copy_only=False)
        scaled = np.where(
            after, np.round(t["total_amount"].to_numpy() * 7 + 3, 2), t["total_amount"].to_numpy()
        )
        return t.set_column(t.schema.get_field_index("total_amount"), "total_amount", pa.array(scaled))

    def drop_orphans(lines: pa.Table, txns: pa.Table) -> pa.Table:
        kept = pc.is_in(lines["txn_id"], value_set=txns["txn_id"])
        lines = lines.filter(kept)
        late = pc.is_in(
            lines["txn_id"], value_set=txns.filter(pc.greater_equal(txns["txn_ts"], AFTER))["txn_id"]
        )
        amounts = np.where(late.to_numpy(zero_copy_only=False), 999.0, lines["line_amount"].to_numpy())
        return lines.set_column(lines.schema.get_field_index("line_amount"), "line_amount", pa.array(amounts))

    changed = rewrite(tiny_dataset, tmp_path / "changed", transactions=mangle, lines=drop_orphans)
    assert changed.rows("transactions") < tiny_dataset.rows("transactions")
    after = _features(changed, cutoffs)
    pd.testing.assert_frame_equal(base, after, check_exact=True)

    # a transaction on the day after the cutoff is outside; one on the cutoff day is inside
    con = tiny_dataset.connect()
    n_after = con.execute(
        "SELECT count(*) FROM transactions WHERE txn_ts >= TIMESTAMP '2024-06-01' AND customer_id IS NOT NULL"
    ).fetchone()
    con.close()
    assert n_after and n_after[0] > 0


def test_population_labels_and_the_oracle_window(tiny_dataset: Dataset) -> None:
    from retailsim.generate.oracle import expected_spend

    spec = plan_features(tiny_dataset)
    f = build_features(tiny_dataset, [CUTOFF], spec, labels=True)
    oracle = expected_spend(tiny_dataset, CUTOFF)
    # every customer known at the cutoff, zero spenders included, and nobody else
    assert sorted(f["customer_id"]) == sorted(oracle["customer_id"])
    assert (f[LABEL] == 0).any() and (f[LABEL] > 0).any()
    assert not f[spec.features].isna().any().any()
    con = tiny_dataset.connect()
    expected = con.execute(
        """SELECT customer_id, sum(total_amount) FROM transactions
           WHERE txn_ts >= TIMESTAMP '2024-06-01' AND txn_ts < TIMESTAMP '2024-07-01' AND customer_id IS NOT NULL
           GROUP BY 1"""
    ).df()
    con.close()
    got = f.set_index("customer_id")[LABEL]
    exp = expected.set_index("customer_id").iloc[:, 0]
    exp = exp[exp.index.isin(got.index)]
    np.testing.assert_allclose(got.loc[exp.index].to_numpy(), exp.to_numpy(), rtol=0, atol=1e-6)
    assert got.drop(exp.index).eq(0).all()


def test_cutoff_plan_never_overlaps_label_windows(tiny_dataset: Dataset) -> None:
    plan = plan_cutoffs(tiny_dataset)
    h = dt.timedelta(days=plan.horizon_days)
    assert all(c + h <= plan.validation for c in plan.train)
    assert plan.validation + h <= plan.test
    assert plan.test + h <= dt.date(2024, 8, 31)
    assert candidate_cutoffs(tiny_dataset, every="2W")[-1] == dt.date(2024, 8, 31) - h
    with pytest.raises(NotEnoughDataError, match="overlaps"):
        plan_cutoffs(tiny_dataset, cutoffs=[dt.date(2024, 3, 31), dt.date(2024, 6, 15), dt.date(2024, 7, 1)])
    with pytest.raises(NotEnoughDataError, match="leave the data"):
        plan_cutoffs(tiny_dataset, cutoffs=[dt.date(2024, 3, 31), dt.date(2024, 5, 31), dt.date(2024, 8, 15)])


def test_sequences_add_up_to_the_window_features(tiny_dataset: Dataset) -> None:
    spec = plan_features(tiny_dataset)
    f = build_features(tiny_dataset, [CUTOFF], spec, sequences=True)
    spend = f[[f"seq_spend_{i:03d}" for i in range(spec.sequence_weeks)]].to_numpy()
    # the last 4 weeks are the last 28 days: between the 7-day and 30-day spend
    last4 = spend[:, -4:].sum(axis=1)
    assert np.all(last4 <= f["spend_30"].to_numpy() + 1e-3)
    np.testing.assert_allclose(spend[:, -1], f["spend_7"].to_numpy(), atol=1e-3)


def test_imported_log_with_only_the_core_columns(cdnow: Dataset) -> None:
    spec = plan_features(cdnow)
    assert {"core", "calendar"} <= set(spec.groups)
    assert "categories" in spec.left_out and "absent" in spec.left_out["categories"]
    f = build_features(cdnow, [dt.date(1997, 12, 31)], spec, labels=True, sequences=True)
    assert len(f) > 1000 and not f[spec.features].isna().any().any()


def test_a_model_needing_absent_columns_is_refused(tiny_dataset: Dataset, cdnow: Dataset) -> None:
    spec = plan_features(tiny_dataset)
    with pytest.raises(SchemaMismatchError, match="trained on data with"):
        build_features(cdnow, [dt.date(1997, 12, 31)], spec)
