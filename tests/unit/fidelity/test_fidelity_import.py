"""Importing logs: mapping options, layout and schema of the result, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fidelity_support import write_log
from retailsim import schema
from retailsim.errors import InputDataError, OutputExistsError, RetailsimError
from retailsim.fidelity.importer import (
    EXAMPLES,
    example_path,
    import_log,
    parse_mapping,
    read_log,
    resolve_mapping,
)
from retailsim.storage.dataset import Dataset

LOG = """
cust,date,value,qty
A7,2024-01-03,10.50,1
B2,2024-01-03,4.00,2
A7,2024-02-10,7.25,3
C9,2024-03-31,1.00,1
"""


def _query(ds: Dataset, sql: str) -> list[dict[str, object]]:
    con = ds.connect()
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "log.csv", LOG)


MAP = {"customer_id": "cust", "timestamp": "date", "amount": "value", "quantity": "qty"}


# ---------------------------------------------------------------------------------------------------------
# mapping options
# ---------------------------------------------------------------------------------------------------------


def test_parse_mapping() -> None:
    assert parse_mapping("customer_id=cust, timestamp=date,amount=value") == {
        "customer_id": "cust",
        "timestamp": "date",
        "amount": "value",
    }
    assert parse_mapping(None) == {} and parse_mapping("") == {}
    with pytest.raises(RetailsimError, match="FIELD=COLUMN"):
        parse_mapping("customer_id")
    with pytest.raises(RetailsimError, match="unknown field 'price'"):
        parse_mapping("price=p")


def test_columns_named_like_fields_need_no_mapping(tmp_path: Path) -> None:
    p = write_log(
        tmp_path / "l.csv",
        """
        customer_id,timestamp,amount,quantity
        1,2024-05-01 10:30:00,3.5,2
        1,2024-05-02T08:00:00,1.5,1
        """,
    )
    assert resolve_mapping(["customer_id", "timestamp", "amount", "quantity"], {}, "f") == {
        "customer_id": "customer_id",
        "timestamp": "timestamp",
        "amount": "amount",
        "quantity": "quantity",
    }
    res = import_log(p, tmp_path / "out")
    assert res.date_format == "ISO 8601"
    assert _query(res.dataset, "SELECT txn_ts FROM transactions ORDER BY txn_id")[0]["txn_ts"] == dt.datetime(
        2024, 5, 1, 10, 30
    )


def test_import_writes_the_generate_layout_and_schema(log: Path, tmp_path: Path) -> None:
    res = import_log(log, tmp_path / "ds", mapping=MAP)
    ds = res.dataset
    assert ds.kind == "imported" and ds.config is None
    assert set(ds.tables) == {"customers", "transactions", "transaction_lines"}
    assert not ds.has("stores") and not ds.has("products") and not ds.has("promotions")
    # customers: surrogate ids by first purchase, source id kept, signup = first purchase
    cust = _query(ds, "SELECT customer_id, external_id, signup_date FROM customers ORDER BY customer_id")
    assert cust == [
        {"customer_id": 1, "external_id": "A7", "signup_date": dt.date(2024, 1, 3)},
        {"customer_id": 2, "external_id": "B2", "signup_date": dt.date(2024, 1, 3)},
        {"customer_id": 3, "external_id": "C9", "signup_date": dt.date(2024, 3, 31)},
    ]
    txns = _query(
        ds, "SELECT txn_id, customer_id, total_amount, n_items, n_lines FROM transactions ORDER BY 1"
    )
    assert [t["total_amount"] for t in txns] == [10.5, 4.0, 7.25, 1.0]
    assert [t["customer_id"] for t in txns] == [1, 2, 1, 3]
    assert [t["n_items"] for t in txns] == [1, 2, 3, 1] and {t["n_lines"] for t in txns} == {1}
    lines = _query(
        ds, "SELECT txn_id, line_no, quantity, unit_price, line_amount FROM transaction_lines ORDER BY 1"
    )
    assert lines[1] == {"txn_id": 2, "line_no": 1, "quantity": 2, "unit_price": 2.0, "line_amount": 4.0}
    # the same files generate writes: month partitions, the schema's types, nullable only where absent
    months = sorted(f["path"] for f in ds.manifest["files"] if f["table"] == "transactions")
    assert months == [
        "transactions/month=2024-01/part-00000.parquet",
        "transactions/month=2024-02/part-00000.parquet",
        "transactions/month=2024-03/part-00000.parquet",
    ]
    absent = ds.manifest["absent"]
    assert absent["transactions"] == [
        "store_id",
        "channel",
        "payment_method",
        "gross_amount",
        "discount_amount",
    ]
    assert ds.absent_columns("transaction_lines") == {
        "product_id",
        "discount_pct",
        "discount_amount",
        "promotion_id",
    }
    assert not ds.has_column("transactions", "store_id") and ds.has_column("transactions", "n_items")
    for f in ds.manifest["files"]:
        got = pq.read_schema(ds.path / f["path"])
        spec = schema.table(f["table"])
        assert got.names == spec.column_names
        for c in spec.columns:
            field = got.field(c.name)
            assert field.type == c.type
            assert field.nullable == (c.nullable or c.name in ds.absent_columns(spec.name))
    assert ds.manifest["horizon"] == {"start": "2024-01-03", "end": "2024-04-01"}
    src = ds.manifest["source"]
    assert src["file"] == "log.csv" and src["rows"] == 4 and src["mapping"] == MAP


def test_without_quantity_there_are_no_lines(log: Path, tmp_path: Path) -> None:
    res = import_log(log, tmp_path / "ds", mapping={k: v for k, v in MAP.items() if k != "quantity"})
    assert not res.dataset.has("transaction_lines")
    assert {"n_items", "n_lines"} <= res.dataset.absent_columns("transactions")


def test_transaction_id_product_and_store(tmp_path: Path) -> None:
    p = write_log(
        tmp_path / "l.csv",
        """
        order;customer;when;paid;sku;shop
        o1;x;2024-01-01 09:00:00;2.0;milk;north
        o1;x;2024-01-01 09:00:00;3.0;bread;north
        o2;;2024-01-02 10:00:00;5.0;milk;south
        o3;y;2024-01-05 11:00:00;1.0;eggs;south
        o4;x;2024-01-07 12:00:00;4.0;milk;north
        """,
    )
    res = import_log(
        p,
        tmp_path / "ds",
        mapping={
            "txn_id": "order",
            "customer_id": "customer",
            "timestamp": "when",
            "amount": "paid",
            "product": "sku",
            "store": "shop",
        },
    )
    ds = res.dataset
    assert set(ds.tables) == {"stores", "products", "customers", "transactions", "transaction_lines"}
    txns = _query(
        ds, "SELECT txn_id, customer_id, store_id, total_amount, n_lines FROM transactions ORDER BY 1"
    )
    assert [t["total_amount"] for t in txns] == [5.0, 5.0, 1.0, 4.0]
    assert txns[0]["n_lines"] == 2
    assert txns[1]["customer_id"] is None  # a row without a customer is an anonymous transaction
    stores = _query(ds, "SELECT store_id, store_name FROM stores ORDER BY 1")
    assert stores == [{"store_id": 1, "store_name": "north"}, {"store_id": 2, "store_name": "south"}]
    assert _query(ds, "SELECT home_store_id FROM customers ORDER BY customer_id") == [
        {"home_store_id": 1},
        {"home_store_id": 2},
    ]
    prods = _query(ds, "SELECT product_id, product_name FROM products ORDER BY 1")
    assert [r["product_name"] for r in prods] == ["bread", "eggs", "milk"]
    lines = _query(ds, "SELECT txn_id, line_no, product_id, quantity FROM transaction_lines ORDER BY 1, 2")
    assert [(r["txn_id"], r["line_no"], r["product_id"]) for r in lines[:2]] == [(1, 1, 3), (1, 2, 1)]
    assert lines[0]["quantity"] is None and "quantity" in ds.absent_columns("transaction_lines")
    assert "home_store_id" not in ds.absent_columns("customers")


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("19970101", None, dt.datetime(1997, 1, 1)),  # detected
        ("1997/01/31", None, dt.datetime(1997, 1, 31)),  # detected
        ("31.01.1997", "%d.%m.%Y", dt.datetime(1997, 1, 31)),
        ("01/02/1997 13:45", "%m/%d/%Y %H:%M", dt.datetime(1997, 1, 2, 13, 45)),
    ],
)
def test_date_formats(tmp_path: Path, value: str, fmt: str | None, expected: dt.datetime) -> None:
    p = write_log(tmp_path / "l.csv", f"customer_id,timestamp,amount\n1,{value},2.5")
    res = import_log(p, tmp_path / "ds", date_format=fmt)
    assert _query(res.dataset, "SELECT txn_ts FROM transactions")[0]["txn_ts"] == expected


def test_gzip_parquet_and_csv_output_agree(log: Path, tmp_path: Path) -> None:
    gz = tmp_path / "log.csv.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    table = pa.table(
        {
            "cust": ["A7", "B2", "A7", "C9"],
            "date": pa.array(
                [
                    dt.datetime(2024, 1, 3),
                    dt.datetime(2024, 1, 3),
                    dt.datetime(2024, 2, 10),
                    dt.datetime(2024, 3, 31),
                ],
                pa.timestamp("us"),
            ),
            "value": [10.5, 4.0, 7.25, 1.0],
            "qty": [1, 2, 3, 1],
        }
    )
    pq.write_table(table, tmp_path / "log.parquet")
    sql = "SELECT c.external_id, t.txn_ts, t.total_amount, t.n_items FROM transactions t JOIN customers c USING (customer_id) ORDER BY t.txn_id"
    got = [
        _query(import_log(src, tmp_path / name, mapping=MAP, fmt=fmt).dataset, sql)  # type: ignore[arg-type]
        for src, name, fmt in (
            (log, "plain", "parquet"),
            (gz, "gz", "parquet"),
            (tmp_path / "log.parquet", "pq", "parquet"),
            (log, "csv", "csv"),
        )
    ]
    assert got[0] == got[1] == got[2] == got[3]
    assert Dataset(tmp_path / "csv").format == "csv"


def test_drop_returns(tmp_path: Path) -> None:
    p = write_log(
        tmp_path / "l.csv",
        """
        customer_id,timestamp,amount,quantity
        1,2024-01-01,5,1
        1,2024-01-02,-5,-1
        2,2024-01-03,3,1
        """,
    )
    res = import_log(p, tmp_path / "ds", drop_returns=True)
    assert res.rows_dropped == 1 and res.dataset.rows("transactions") == 2
    assert res.dataset.manifest["source"]["rows_dropped"] == 1


def test_shipped_example(tmp_path: Path) -> None:
    ex = EXAMPLES["cdnow"]
    with example_path("cdnow") as p:
        assert p.name == "cdnow_sample.csv.gz"
        res = import_log(p, tmp_path / "cdnow", mapping=ex.mapping, date_format=ex.date_format)
    assert res.dataset.rows("transactions") == 6919 and res.dataset.rows("customers") == 2357
    with pytest.raises(RetailsimError, match="unknown example"), example_path("nope"):
        pass


def test_shipped_example_is_the_test_copy() -> None:
    tests_copy = Path(__file__).parents[2] / "data" / "cdnow_sample" / "cdnow_sample.csv"
    with example_path("cdnow") as p:
        assert gzip.decompress(p.read_bytes()) == tests_copy.read_bytes()


# ---------------------------------------------------------------------------------------------------------
# bad input: one error naming file, row and column; nothing written
# ---------------------------------------------------------------------------------------------------------


def _fails(path: Path, out: Path, match: str, **kw: object) -> InputDataError:
    with pytest.raises(InputDataError, match=match) as info:
        import_log(path, out, **kw)  # type: ignore[arg-type]
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]  # no partial folder
    return info.value


def test_unparseable_date_names_file_row_and_column(tmp_path: Path) -> None:
    p = write_log(tmp_path / "l.csv", "cust,date,value\n1,19970101,1\n2,19971301,2\n3,19970105,3")
    mapping = {"customer_id": "cust", "timestamp": "date", "amount": "value"}
    err = _fails(p, tmp_path / "out", "cannot parse '19971301'", mapping=mapping, date_format="%Y%m%d")
    assert (err.file, err.row, err.column) == (str(p), 2, "date")
    assert str(err).startswith(f"file {p}, row 2, column 'date': ")


def test_mixed_date_formats_report_the_first_odd_row(tmp_path: Path) -> None:
    p = write_log(tmp_path / "l.csv", "customer_id,timestamp,amount\n1,2024-01-01,1\n1,01/02/2024,1")
    err = _fails(p, tmp_path / "out", "expected format ISO 8601")
    assert err.row == 2


def test_negative_quantity(tmp_path: Path) -> None:
    p = write_log(
        tmp_path / "l.csv", "customer_id,timestamp,amount,quantity\n1,2024-01-01,1,1\n1,2024-01-02,1,-2"
    )
    err = _fails(p, tmp_path / "out", "negative quantity -2")
    assert (err.row, err.column) == (2, "quantity")


def test_negative_amount(tmp_path: Path) -> None:
    p = write_log(tmp_path / "l.csv", "customer_id,timestamp,amount\n1,2024-01-01,-1.5")
    err = _fails(p, tmp_path / "out", "negative amount -1.5.*--drop-returns")
    assert (err.row, err.column) == (1, "amount")


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("1,2024-01-01,abc,1", "amount", "cannot parse 'abc' as a number"),
        ("1,2024-01-01,,1", "amount", "missing amount"),
        ("1,,3,1", "timestamp", "missing date/time"),
        ("1,2024-01-01,3,1.5", "quantity", "quantity 1.5 is not a whole number"),
        ("1,2024-01-01,3,0", "quantity", "quantity 0"),
        ("1,2024-01-01,3,", "quantity", "missing quantity"),
        ("1,2024-01-01,nan,1", "amount", "cannot parse 'nan' as a number"),
    ],
)
def test_bad_values(tmp_path: Path, row: str, column: str, message: str) -> None:
    p = write_log(tmp_path / "l.csv", f"customer_id,timestamp,amount,quantity\n1,2024-01-01,2,1\n{row}")
    err = _fails(p, tmp_path / "out", message)
    assert (err.row, err.column) == (2, column)


def test_missing_mapped_column(log: Path, tmp_path: Path) -> None:
    err = _fails(
        log,
        tmp_path / "out",
        "mapped column 'dollars' .*its columns: cust, date, value, qty",
        mapping=MAP | {"amount": "dollars"},
    )
    assert err.column == "dollars"
    err = _fails(log, tmp_path / "out", "no column for the required field 'customer_id'")
    assert err.column == "customer_id"


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    _fails(p, tmp_path / "out", "the file is empty")
    gz = tmp_path / "empty.csv.gz"
    gz.write_bytes(gzip.compress(b""))
    _fails(gz, tmp_path / "out", "the file is empty")
    header = write_log(tmp_path / "h.csv", "customer_id,timestamp,amount")
    _fails(header, tmp_path / "out", "header but no data rows")
    pqf = tmp_path / "e.parquet"
    pqf.write_bytes(b"")
    _fails(pqf, tmp_path / "out", "the file is empty")


def test_corrupt_gzip(log: Path, tmp_path: Path) -> None:
    data = gzip.compress(log.read_bytes())
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(data[: len(data) // 2])  # truncated
    err = _fails(bad, tmp_path / "out", "gzip", mapping=MAP)
    assert err.file == str(bad)
    notgz = tmp_path / "plain.csv.gz"
    notgz.write_bytes(log.read_bytes())
    _fails(notgz, tmp_path / "out", "gzip", mapping=MAP)


def test_corrupt_parquet_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    p.write_bytes(b"not parquet at all")
    _fails(p, tmp_path / "out", "cannot read the file as Parquet")
    _fails(tmp_path / "nope.csv", tmp_path / "out", "file not found")


def test_row_with_wrong_number_of_fields(tmp_path: Path) -> None:
    p = write_log(tmp_path / "l.csv", "customer_id,timestamp,amount\n1,2024-01-01,2\n1,2024-01-02,3,4")
    err = _fails(p, tmp_path / "out", "expected 3 fields")
    assert err.row == 2


def test_transaction_rows_that_disagree(tmp_path: Path) -> None:
    p = write_log(
        tmp_path / "l.csv",
        "txn_id,customer_id,timestamp,amount\nt1,1,2024-01-01,1\nt1,2,2024-01-01,1",
    )
    err = _fails(p, tmp_path / "out", "disagree on the customer_id")
    assert (err.row, err.column) == (2, "customer_id")


def test_existing_output_is_refused(log: Path, tmp_path: Path) -> None:
    import_log(log, tmp_path / "ds", mapping=MAP)
    with pytest.raises(OutputExistsError):
        import_log(log, tmp_path / "ds", mapping=MAP)
    import_log(log, tmp_path / "ds", mapping=MAP, overwrite=True)


def test_read_log_keeps_ids_as_text(tmp_path: Path) -> None:
    p = write_log(tmp_path / "l.csv", "cust,date,value\n0001,19970101,1")
    t = read_log(p)
    assert t.column("cust").to_pylist() == ["0001"] and t.schema.field("cust").type == pa.string()


# ---------------------------------------------------------------------------------------------------------
# not UTF-8 text: one error naming the row and column of the first bad byte, and no traceback anywhere
# ---------------------------------------------------------------------------------------------------------

HEADER = "customer_id,timestamp,amount\n"


def test_random_bytes(tmp_path: Path) -> None:
    import numpy as np

    p = tmp_path / "random.csv"
    p.write_bytes(np.random.default_rng(7).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    _fails(p, tmp_path / "out", "NUL bytes.*not a UTF-8 CSV")
    no_nul = tmp_path / "random-no-nul.csv"  # random high bytes: no NUL, not UTF-8 either
    no_nul.write_bytes(
        HEADER.encode() + np.random.default_rng(8).integers(0x80, 256, 5000, np.uint8).tobytes()
    )
    err = _fails(no_nul, tmp_path / "out", "is not UTF-8 text")
    assert (err.row, err.column) == (1, "customer_id")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files(tmp_path: Path, encoding: str) -> None:
    p = tmp_path / "wide.csv"
    p.write_bytes((HEADER + "1,2024-01-01,2\n").encode(encoding))
    kind = "UTF-32" if "32" in encoding else "UTF-16"
    match = f"is {kind} encoded; save it as UTF-8" if encoding in ("utf-16", "utf-32") else "NUL bytes"
    _fails(p, tmp_path / "out", match)


@pytest.mark.parametrize(
    ("body", "row", "column"),
    [
        (b"1,2024-01-01,2\n2,2024-01-02,3\ncaf\xe9,2024-01-03,4\n", 3, "customer_id"),  # Latin-1 in an id
        (b"1,2024-01-01,2\n2,2024-01-02,\xff3\n", 2, "amount"),
        (b'1,2024-01-01,2\n"a,b\xc3",2024-01-02,3\n', 2, "customer_id"),  # a truncated character, quoted
        (b"1,2024-01-01,2\n2,2024-01-02,3\xc3", 2, "amount"),  # the file ends inside a character
    ],
)
def test_invalid_utf8_in_one_field(tmp_path: Path, body: bytes, row: int, column: str) -> None:
    p = tmp_path / "latin1.csv"
    p.write_bytes(HEADER.encode() + body)
    err = _fails(p, tmp_path / "out", "byte 0x.. is not UTF-8 text: the file must be UTF-8 encoded")
    assert (err.file, err.row, err.column) == (str(p), row, column)
    gz = tmp_path / "latin1.csv.gz"  # the same through gzip
    gz.write_bytes(gzip.compress(p.read_bytes()))
    err = _fails(gz, tmp_path / "out", "is not UTF-8 text")
    assert (err.row, err.column) == (row, column)


def test_bad_byte_in_a_later_block_is_located(tmp_path: Path) -> None:
    """The check streams the file in blocks: a bad byte far into it, and a character split across the block
    boundary, are located exactly (a valid one is not an error)."""
    good = "1,2024-01-01,2.50\n" * 600_000  # ~10.8 MB: more than one 8 MiB block
    p = tmp_path / "big.csv"
    p.write_bytes(HEADER.encode() + good.encode() + b"2,2024-01-02,\xe93\n")
    err = _fails(p, tmp_path / "out", "is not UTF-8 text")
    assert (err.row, err.column) == (600_001, "amount")
    split = tmp_path / "split.csv"  # a valid 2-byte character straddling byte 8 MiB: imported as it is
    line = b"1,2024-01-01,2.50\n"
    k, extra = divmod((1 << 23) - 1 - len(HEADER), len(line))
    split.write_bytes(HEADER.encode() + line * k + b"x" * extra + "é,2024-01-02,1\n".encode())
    ds = import_log(split, tmp_path / "out2").dataset
    assert _query(ds, "SELECT max(external_id) AS x FROM customers") == [{"x": "x" * extra + "é"}]


def test_cli_prints_one_line_and_no_traceback_for_binary_input(tmp_path: Path) -> None:
    """The pyarrow CSV reader's row handler used to leak "Exception ignored ... UnicodeDecodeError" and a
    traceback to stderr next to the error: run the real command and read its whole stderr."""
    import subprocess
    import sys

    import numpy as np

    cases = {
        "random.csv": np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "high.csv": b"cust,date\n" + bytes(range(0x80, 0x100)) * 40 + b"\n1,2\n",
        "utf16.csv": "cust,date,dollars\n1,19970101,2\n".encode("utf-16"),
        "latin1.csv": b"cust,date,dollars\n1,19970101,2\n2\xe9,19970102,3\n",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        res = subprocess.run(
            [sys.executable, "-m", "retailsim", "import", str(p), "--out", str(tmp_path / "o")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 2, (name, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: file {p}"), (name, res.stderr)
        assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr, res.stderr
        assert not (tmp_path / "o").exists()
