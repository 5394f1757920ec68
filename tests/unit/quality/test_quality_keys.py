"""Key sets: the bitmap shortcut for (txn_id, line_no) finds exactly the duplicated keys a GROUP BY finds."""

from __future__ import annotations

from collections import Counter
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
