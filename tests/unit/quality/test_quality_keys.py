"""Key sets: the bitmap shortcut for (txn_id, line_no) finds exactly the duplicated keys a GROUP BY finds."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retailsim import schema
from retailsim.quality.config import QualityConfig
from retailsim.quality.engine import Session
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import write_table
from retailsim.storage.manifest import build_manifest, write_manifest

keys = st.lists(
    st.tuples(st.integers(1, 6), st.one_of(st.integers(-2, 70), st.integers(60, 200), st.none())),
    min_size=0,
    max_size=60,
)


def _dataset(root: Path, pairs: list[tuple[int, int | None]], split: int) -> Dataset:
    spec = schema.TRANSACTION_LINES
    n = len(pairs)
    cols = {c.name: pa.nulls(n, c.type) for c in spec.columns}
    cols["txn_id"] = pa.array([p[0] for p in pairs], pa.int64())
    cols["line_no"] = pa.array([p[1] for p in pairs], pa.int32())
    fields = [pa.field(c.name, c.type, nullable=True) for c in spec.columns]
    table = pa.table(cols, schema=pa.schema(fields))
    recs = [
        write_table(
            table.slice(0, split), root, "transaction_lines/a.parquet", "transaction_lines", "parquet"
        ),
        write_table(table.slice(split), root, "transaction_lines/b.parquet", "transaction_lines", "parquet"),
    ]
    write_manifest(root, build_manifest(recs, fmt="parquet", kind="imported", extra={}))
    return Dataset(root)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=keys, split=st.integers(0, 60))
def test_bitmap_key_set_equals_group_by(
    tmp_path_factory, pairs: list[tuple[int, int | None]], split: int
) -> None:
    root = tmp_path_factory.mktemp("keys")
    ds = _dataset(root, pairs, min(split, len(pairs)))
    session = Session(ds, QualityConfig(threads=1))
    try:
        session.sources.open(["transaction_lines"])
        session.key_set("transaction_lines", "pk", ("txn_id", "line_no"))
        got = {
            (a, b): c
            for a, b, c in session.con.execute(
                "SELECT __k1, __k2, pk__copies FROM __dup_transaction_lines_pk"
            ).fetchall()
        }
    finally:
        session.close()
    want = {k: c for k, c in Counter(p for p in pairs if p[1] is not None).items() if c > 1}
    assert got == want
    assert pq.read_metadata(root / "transaction_lines/a.parquet").num_rows == min(split, len(pairs))


single_keys = st.lists(st.one_of(st.integers(1, 40), st.none()), min_size=0, max_size=60)


def _transactions(root: Path, ids: list[int | None], split: int) -> Dataset:
    spec = schema.TRANSACTIONS
    n = len(ids)
    cols = {c.name: pa.nulls(n, c.type) for c in spec.columns}
    cols["txn_id"] = pa.array(ids, pa.int64())
    table = pa.table(cols, schema=pa.schema([pa.field(c.name, c.type, nullable=True) for c in spec.columns]))
    recs = [
        write_table(table.slice(0, split), root, "transactions/a.parquet", "transactions", "parquet"),
        write_table(table.slice(split), root, "transactions/b.parquet", "transactions", "parquet"),
    ]
    write_manifest(root, build_manifest(recs, fmt="parquet", kind="imported", extra={}))
    return Dataset(root)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=single_keys, split=st.integers(0, 60), sort=st.booleans())
def test_single_key_set_with_sorted_file_proof_equals_group_by(
    tmp_path_factory, ids: list[int | None], split: int, sort: bool
) -> None:
    """Sorted, disjoint files are proven unique without grouping; anything else (a NULL, a file out of order,
    overlapping files, a real duplicate) falls back to the GROUP BY — the duplicated keys are always exact."""
    split = min(split, len(ids))
    if sort:  # each file sorted on its own: the proof's case when the files do not overlap
        ids = sorted(ids[:split], key=lambda v: (v is None, v)) + sorted(
            ids[split:], key=lambda v: (v is None, v)
        )
    ds = _transactions(tmp_path_factory.mktemp("single"), ids, split)
    session = Session(ds, QualityConfig(threads=1))
    try:
        session.sources.open(["transactions"])
        proven = session.unique_in_sorted_files("transactions", "txn_id")
        session.key_set("transactions", "pk", ("txn_id",))
        got = dict(session.con.execute("SELECT __k1, pk__copies FROM __dup_transactions_pk").fetchall())
    finally:
        session.close()
    want = {k: c for k, c in Counter(i for i in ids if i is not None).items() if c > 1}
    assert got == want
    if proven:
        assert not want and None not in ids
    a, b = [i for i in ids[:split] if i is not None], [i for i in ids[split:] if i is not None]
    disjoint = not a or not b or max(a) < min(b) or max(b) < min(a)
    if None not in ids and len(ids) >= 2 and disjoint:
        increasing = all(x < y for part in (ids[:split], ids[split:]) for x, y in pairwise(part))  # type: ignore[operator]
        assert proven == increasing
