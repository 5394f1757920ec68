"""check_records: the dashboard's check of uploaded rows against one table's contract and the dataset's keys."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from retailsim.errors import InputDataError
from retailsim.quality import check_records
from retailsim.storage.dataset import Dataset


def test_customers_from_pandas(tiny_dataset: Dataset) -> None:
    df = tiny_dataset.read("customers").slice(0, 4).to_pandas()
    df["customer_id"] = [900_001, 900_002, 900_003, 1]  # three new keys, one taken
    df.loc[1, "email"] = "no-at-sign.example.com"
    df.loc[2, "home_store_id"] = 4242
    accepted, rejected = check_records(tiny_dataset, "customers", df)
    assert isinstance(accepted, pd.DataFrame) and accepted["customer_id"].tolist() == [900_001]
    reasons = dict(zip(rejected["_row"], rejected["_rule_ids"], strict=True))
    assert list(reasons[2]) == ["customers.email.pattern"]
    assert list(reasons[3]) == ["customers.home_store_id.fk"]
    assert list(reasons[4]) == ["customers.pk.unique"]
    assert all(rejected["_reason"].str.len() > 0)


def test_lines_from_csv_text(tiny_dataset: Dataset, tmp_path: Path) -> None:
    txn = tiny_dataset.read("transactions").column("txn_id")[0].as_py()
    rows = pa.table(
        {
            "txn_id": [str(txn), str(txn), "1"],
            "line_no": ["90", "91x", "1"],
            "product_id": ["1", "1", "1"],
            "quantity": ["2", "2", "2"],
            "unit_price": ["1.5", "1.5", "1.5"],
            "discount_pct": ["0", "0", "0"],
            "discount_amount": ["0", "0", "0"],
            "line_amount": ["3.0", "3.0", "3.0"],
        }
    )
    path = tmp_path / "upload.csv"
    pacsv.write_csv(rows, path)
    accepted, rejected = check_records(tiny_dataset, "transaction_lines", path)
    assert accepted.num_rows == 1 and accepted.column("line_no").to_pylist() == [90]
    by_row = {r["_row"]: r for r in rejected.to_pylist()}
    assert "transaction_lines.cells.parse" in by_row[2]["_rule_ids"] and "91x" in by_row[2]["_reason"]
    assert by_row[3]["_rule_ids"] == ["transaction_lines.txn_id.fk"]


def test_bad_columns_are_one_clear_error(tiny_dataset: Dataset) -> None:
    with pytest.raises(InputDataError, match="unknown column"):
        check_records(tiny_dataset, "stores", pa.table({"store_id": [1], "colour": ["red"]}))
    with pytest.raises(InputDataError, match="required column 'store_name'"):
        check_records(tiny_dataset, "stores", pa.table({"store_id": [99]}))
    with pytest.raises(InputDataError, match="not a data table"):
        check_records(tiny_dataset, "calendar", pa.table({"date": [1]}))
