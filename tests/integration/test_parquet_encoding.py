"""How each column is written follows the schema: a Parquet dictionary on repeated values, delta encoding on the
ordered keys and timestamps, statistics on everything but money and other floating-point measurements."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from retailsim import schema
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import serialise


def _columns(path: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Encodings and whether statistics are set, by top-level column."""
    md = pq.ParquetFile(path).metadata
    col = md.row_group(0).column
    return {
        col(i).path_in_schema.split(".")[0]: (col(i).encodings, col(i).is_stats_set)
        for i in range(md.num_columns)
    }


def test_encodings_and_statistics_follow_the_schema(tiny_dataset: Dataset) -> None:
    files = {f["table"]: f["path"] for f in tiny_dataset.manifest["files"]}
    for name, repeated, delta, measure in (
        ("transaction_lines", "product_id", "txn_id", "line_amount"),
        ("transactions", "channel", "txn_ts", "total_amount"),
        ("customers", "city", None, None),
        ("customer_truth", "churn_date", None, "purchase_rate"),
    ):
        spec = schema.table(name)
        got = _columns(str(tiny_dataset.path / files[name]))
        # (Parquet has no dictionary for booleans)
        dictionary = {c for c in spec.dictionary_columns() if spec.column(c).type != pa.bool_()}
        for c, (encodings, stats) in got.items():
            if spec.column(c).type != pa.bool_():
                assert ("RLE_DICTIONARY" in encodings) == (c in dictionary), (name, c, encodings)
            assert ("DELTA_BINARY_PACKED" in encodings) == (c in spec.column_encodings()), (name, c)
            assert stats == (c in spec.statistics_columns()), (name, c)
        assert "RLE_DICTIONARY" in got[repeated][0], name
        if delta:
            assert got[delta][0] == ("RLE", "DELTA_BINARY_PACKED"), name
        if measure:
            assert not got[measure][1], name  # no statistics on floating-point measurements
        assert got[spec.primary_key[0]][1], name  # keys keep theirs: readers prune files with them


def test_tables_outside_the_schema_get_pyarrow_defaults() -> None:
    t = pa.table({"txn_id": pa.array([3, 1, 2], pa.int64()), "x": pa.array([0.5, 0.5, 1.5])})
    md = pq.ParquetFile(pa.BufferReader(serialise(t, "parquet", "not-a-table"))).metadata.row_group(0)
    for i in range(2):
        assert "RLE_DICTIONARY" in md.column(i).encodings and md.column(i).is_stats_set
