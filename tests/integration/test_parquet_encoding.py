"""Which columns get a Parquet dictionary: every column of the line items (whose writing is also the write-only
limit of bench_generate), none of the unique keys and continuous measurements elsewhere."""

from __future__ import annotations

import pyarrow.parquet as pq

from retailsim import schema
from retailsim.storage.dataset import Dataset


def _dictionary_encoded(path: str) -> dict[str, bool]:
    md = pq.ParquetFile(path).metadata
    col = md.row_group(0).column
    return {
        col(i).path_in_schema.split(".")[0]: "RLE_DICTIONARY" in col(i).encodings
        for i in range(md.num_columns)
    }


def test_dictionaries_follow_the_schema(tiny_dataset: Dataset) -> None:
    files = {f["table"]: f["path"] for f in tiny_dataset.manifest["files"]}
    lines = _dictionary_encoded(str(tiny_dataset.path / files["transaction_lines"]))
    assert all(lines.values()), lines
    for name, repeated in (
        ("transactions", "channel"),
        ("customers", "city"),
        ("customer_truth", "churn_date"),
    ):
        spec = schema.table(name)
        got = _dictionary_encoded(str(tiny_dataset.path / files[name]))
        plain = [c for c in spec.column_names if c not in spec.dictionary_columns()]
        assert plain and not any(got[c] for c in plain), (name, plain)
        assert got[repeated], name
