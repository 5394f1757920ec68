"""The pandera contracts (generated from the same schema) reject exactly the rows the SQL contracts reject."""

from __future__ import annotations

import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retailsim import schema
from retailsim.quality.engine import run_validation
from retailsim.storage.dataset import Dataset


@pytest.mark.parametrize("backend", ["pandas", "polars"])
def test_pandera_and_sql_contracts_agree(defective_parquet: Dataset, backend: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandera's own import-time notices
        from retailsim.quality.pandera_contracts import failing_rows

        report = run_validation(defective_parquet)
        contract = {r.rule.id for r in report.results if r.rule.category == "contract"}  # schema contracts
        for spec in schema.DATA_TABLES:
            files = sorted(defective_parquet.manifest["files"], key=lambda f: f["path"])
            files = [f for f in files if f["table"] == spec.name]
            offsets, total = {}, 0
            for f in files:
                offsets[f["path"]] = total
                total += f["rows"]
            table = pa.concat_tables(
                [
                    pq.read_table(defective_parquet.path / f["path"]).cast(
                        pa.schema([pa.field(c.name, c.type) for c in spec.columns])
                    )
                    for f in files
                ]
            )
            frame = table.to_pandas() if backend == "pandas" else __import__("polars").from_arrow(table)
            got = failing_rows(spec.name, frame, backend=backend)  # type: ignore[arg-type]
            f = report.findings.to_pylist()
            want = {
                offsets[x["file"]] + x["row"] - 1
                for x in f
                if x["table_name"] == spec.name and x["rule_id"] in contract
            }
            assert got == want, (spec.name, sorted(got ^ want)[:10])
