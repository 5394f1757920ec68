"""Import a real transaction log (CSV or Parquet, gzip allowed) into a retailsim dataset folder.

The log needs at least a customer, a timestamp and an amount per row; it may also have a quantity, a product,
a store and a transaction id. The result has the same layout and schema ``generate`` writes, so every
downstream capability runs on it:

* ``customers``: one row per distinct source customer id, with a surrogate ``customer_id`` (1, 2, … in order of
  first purchase), the source id in ``external_id`` and ``signup_date`` = the date of the first purchase.
* ``transactions``: one row per transaction (per log row, or per distinct transaction id when one is mapped),
  ``txn_id`` 1, 2, … in time order, ``total_amount`` = the amount (summed over the rows of a transaction).
  A row without a customer id is an anonymous transaction.
* ``transaction_lines``: written only when the log has a quantity, a product or a transaction id: one line
  per log row (so a log with only a quantity per purchase gets one line per transaction, holding it);
  ``unit_price`` = amount / quantity.
* ``stores`` / ``products``: written only when the log has a store / product column: one row per distinct
  source id (kept in ``store_name`` / ``product_name``), with a surrogate key.
* ``promotions``: never (a log does not say which price was a promotion).

Tables the log cannot fill are absent from the manifest. Columns it cannot fill hold nulls (their Arrow field
is made nullable) and are listed in the manifest under ``absent`` (see
:meth:`retailsim.storage.dataset.Dataset.absent_columns`); data-quality rules skip them and facts that need
them are "not available".

Every check runs in DuckDB over the whole log; the first bad value found is reported as one
:class:`~retailsim.errors.InputDataError` naming the file, the row (the n-th data row, header not counted)
and the column. Output is written to a hidden folder and renamed into place, so a failed import leaves
nothing behind.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import gzip
import io
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, Literal, NoReturn

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retailsim import schema
from retailsim.errors import InputDataError, RetailsimError
from retailsim.storage.atomic import staged_folder
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import FileFormat, FileRecord, month_slices, sha256_file, write_table
from retailsim.storage.manifest import build_manifest, write_manifest

FIELDS: tuple[str, ...] = ("customer_id", "timestamp", "amount", "quantity", "product", "store", "txn_id")
"""Fields of a log a column can be mapped to."""
REQUIRED_FIELDS: tuple[str, ...] = ("customer_id", "timestamp", "amount")

AUTO_DATE_FORMATS: tuple[str, ...] = ("%Y%m%d", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y%m%d%H%M%S")
"""Unambiguous formats tried (after ISO 8601) when no ``date_format`` is given; day/month orders that could
be confused (01/02/2024) are never guessed."""

_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class Example:
    """A real log shipped with the package, with the mapping that reads it."""

    name: str
    resource: str  # file name under retailsim/fidelity/examples/
    mapping: dict[str, str]
    date_format: str
    description: str


EXAMPLES: dict[str, Example] = {
    "cdnow": Example(
        "cdnow",
        "cdnow_sample.csv.gz",
        {"customer_id": "cust", "timestamp": "date", "amount": "dollars", "quantity": "cds"},
        "%Y%m%d",
        "CDNOW online music retailer, 1997-01 – 1998-06: 6,919 purchases of 2,357 customers (real data; "
        "see retailsim/fidelity/examples/README.md).",
    ),
}


@contextlib.contextmanager
def example_path(name: str) -> Iterator[Path]:
    """The path of a shipped example log (``cdnow``), valid inside the ``with`` block.

    Raises
    ------
    RetailsimError
        When ``name`` is not a shipped example.
    """
    if name not in EXAMPLES:
        raise RetailsimError(f"unknown example {name!r}; shipped examples: {', '.join(EXAMPLES)}")
    ref = resources.files("retailsim.fidelity").joinpath("examples", EXAMPLES[name].resource)
    with resources.as_file(ref) as p:
        yield p


def parse_mapping(text: str | None) -> dict[str, str]:
    """Parse ``customer_id=cust,timestamp=date`` into ``{"customer_id": "cust", "timestamp": "date"}``.

    Raises
    ------
    RetailsimError
        On a malformed item or an unknown field (the message lists the fields).
    """
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise RetailsimError(
                f"--map expects FIELD=COLUMN items separated by commas; got {item.strip()!r}"
            )
        if key not in FIELDS:
            raise RetailsimError(f"--map: unknown field {key!r}; fields: {', '.join(FIELDS)}")
        out[key] = value
    return out


@dataclass
class ImportResult:
    """What :func:`import_log` did."""

    dataset: Dataset
    rows_read: int
    rows_dropped: int
    mapping: dict[str, str]
    date_format: str
    absent: dict[str, list[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------------


def _kind(path: Path) -> tuple[Literal["csv", "parquet"], bool]:
    name = path.name.lower()
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    if base.endswith((".parquet", ".pq")):
        if gz:
            raise InputDataError(
                "gzip-compressed Parquet is not supported (Parquet compresses itself)", file=str(path)
            )
        return "parquet", False
    return "csv", gz


def _open_text_head(path: Path, gz: bool, n: int = 1 << 16) -> bytes:
    try:
        if gz:
            with gzip.open(path, "rb") as f:
                return f.read(n)
        with path.open("rb") as f:
            return f.read(n)
    except (OSError, EOFError, zlib.error) as err:
        raise InputDataError(f"cannot read the file as gzip-compressed CSV: {err}", file=str(path)) from None


_UTF16_32_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


_MAX_TAIL = 1 << 20  # bytes of a line kept to locate a bad byte's column


def _open_binary(path: Path, gz: bool) -> BinaryIO:
    return gzip.open(path, "rb") if gz else path.open("rb")


def _check_utf8(path: Path, gz: bool, head: bytes, delimiter: str, names: list[str]) -> None:
    """Refuse a log that is not UTF-8 text before the CSV reader sees it, naming the row and column of the
    first byte that is not UTF-8 (the reader cannot report those, and its row handler cannot decode them).

    Streams the whole file in blocks with an incremental decoder: a few GB/s, small next to parsing.
    """
    for bom, name in _UTF16_32_BOMS.items():  # UTF-32 LE starts like UTF-16 LE: longer BOMs first
        if head.startswith(bom):
            raise InputDataError(
                f"the file is {name} encoded; save it as UTF-8 (e.g. iconv -f {name} -t UTF-8)",
                file=str(path),
            )
    nul = head.find(b"\x00")
    if nul >= 0:
        raise InputDataError(
            f"the file holds NUL bytes (the first at byte {nul}): it is binary or UTF-16/32 text, not a UTF-8 CSV",
            file=str(path),
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0  # newlines before ``tail``
    tail = b""  # the current line so far (its last bytes, when it is very long)
    try:
        with _open_binary(path, gz) as f:
            while True:
                block = f.read(1 << 23)
                pending = len(decoder.getstate()[0])  # a character split across blocks, at the end of tail
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as err:
                    data = tail + block
                    at = len(tail) - pending + err.start
                    start = data.rfind(b"\n", 0, at) + 1
                    known = start > 0 or len(tail) < _MAX_TAIL  # the line's start is in ``data``
                    _raise_bad_byte(
                        path,
                        data[start:at] if known else None,
                        data[at],
                        lines + data.count(b"\n", 0, at),
                        delimiter,
                        names,
                    )
                if not block:
                    return
                newline = block.rfind(b"\n")
                lines += block.count(b"\n")
                tail = block[newline + 1 :] if newline >= 0 else (tail + block)[-_MAX_TAIL:]
    except (OSError, EOFError, zlib.error) as err:
        what = "gzip-compressed CSV" if gz else "CSV"
        raise InputDataError(f"cannot read the file as {what}: {err}", file=str(path)) from None


def _raise_bad_byte(
    path: Path, before: bytes | None, byte: int, row: int, delimiter: str, names: list[str]
) -> NoReturn:
    """``row`` counts the newlines before the bad byte (the header is row 0); ``before`` is its line up to it
    (None when the line is too long to keep)."""
    column = None
    if before is not None and row > 0:
        fields = next(csv.reader([before.decode("utf-8", errors="replace")], delimiter=delimiter), [""])
        k = max(len(fields), 1) - 1
        column = names[k] if k < len(names) else None
    raise InputDataError(
        f"byte 0x{byte:02x} is not UTF-8 text: the file must be UTF-8 encoded "
        "(re-save it as UTF-8, e.g. iconv -f LATIN1 -t UTF-8)",
        file=str(path),
        row=row,
        column=column,
    )


def _read_csv(path: Path, gz: bool, delimiter: str | None) -> pa.Table:
    head = _open_text_head(path, gz)
    text = head.decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise InputDataError("the file is empty", file=str(path))
    first_line = text.splitlines()[0]
    if delimiter is None:
        delimiter = max(_DELIMITERS, key=first_line.count)
    names = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    names = [n.strip() for n in names]
    _check_utf8(path, gz, head, delimiter, names)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputDataError(f"the header repeats column name(s) {dup}", file=str(path), row=0)
    bad: list[Any] = []

    def on_invalid(row: Any) -> str:
        bad.append(row)
        return "error"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.input_stream(str(path), compression="gzip" if gz else None),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        return read(threads=True)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as err:
        if bad and bad[0].number is None:  # only the single-threaded reader knows line numbers
            bad.clear()
            with contextlib.suppress(pa.ArrowInvalid, OSError, EOFError, zlib.error):
                read(threads=False)
        if bad:
            r = bad[0]
            line = r.number
            raise InputDataError(
                f"expected {r.expected_columns} fields separated by {delimiter!r}, found {r.actual_columns}"
                + (f" (line {line} of the file)" if line else ""),
                file=str(path),
                row=line - 1 if line else None,
            ) from None
        msg = str(err).splitlines()[0]
        what = "gzip-compressed CSV" if gz else "CSV"
        raise InputDataError(f"cannot read the file as {what}: {msg}", file=str(path)) from None


def _read_parquet(path: Path) -> pa.Table:
    if path.stat().st_size == 0:
        raise InputDataError("the file is empty", file=str(path))
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputDataError(f"cannot read the file as Parquet: {err}", file=str(path)) from None


def read_log(path: str | Path, *, delimiter: str | None = None) -> pa.Table:
    """Read a log into Arrow: CSV columns as text (parsed later, with row numbers), Parquet as stored.

    Raises
    ------
    InputDataError
        Missing, empty, unreadable or corrupt (e.g. a truncated gzip) file, or a row with the wrong number of
        fields.
    """
    p = Path(path)
    if not p.is_file():
        raise InputDataError("file not found", file=str(p))
    kind, gz = _kind(p)
    if not gz and p.stat().st_size == 0:
        raise InputDataError("the file is empty", file=str(p))
    table = _read_parquet(p) if kind == "parquet" else _read_csv(p, gz, delimiter)
    if table.num_rows == 0:
        raise InputDataError("the file has a header but no data rows", file=str(p))
    return table


# --------------------------------------------------------------------------------------------------------
# parsing and checking (DuckDB)
# --------------------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def resolve_mapping(columns: list[str], mapping: Mapping[str, str], file: str) -> dict[str, str]:
    """Field → source column: explicit ``mapping`` items, else a column named like the field.

    Raises
    ------
    InputDataError
        When a mapped (or required) column is not in the file; the message lists the file's columns.
    """
    out: dict[str, str] = {}
    for f in FIELDS:
        col = mapping.get(f)
        if col is None and f in columns:
            col = f
        if col is None and f in REQUIRED_FIELDS:
            raise InputDataError(
                f"no column for the required field {f!r}: map one with --map {f}=COLUMN "
                f"(the file's columns: {', '.join(columns)})",
                file=file,
                column=f,
            )
        if col is None:
            continue
        if col not in columns:
            raise InputDataError(
                f"mapped column {col!r} (for {f}) is not in the file; its columns: {', '.join(columns)}",
                file=file,
                column=col,
            )
        out[f] = col
    return out


def _first_bad(con: duckdb.DuckDBPyConnection, where: str, show: str) -> tuple[int, Any] | None:
    row = con.execute(f"SELECT _row, {show} FROM raw WHERE {where} ORDER BY _row LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), row[1])


def _timestamp_expr(
    con: duckdb.DuckDBPyConnection, col: str, arrow_type: pa.DataType, date_format: str | None, file: str
) -> tuple[str, str]:
    """SQL that parses the timestamp column, and a description of the format used."""
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return f"CAST({_q(col)} AS TIMESTAMP)", "native"
    text = f"trim(CAST({_q(col)} AS VARCHAR))"
    if date_format:
        try:
            con.execute(f"SELECT TRY_STRPTIME('2000-01-01', {_lit(date_format)})").fetchone()
        except duckdb.Error as err:
            raise InputDataError(f"invalid --date-format {date_format!r}: {err}", file=file) from None
        return f"TRY_STRPTIME({text}, {_lit(date_format)})", date_format
    first = con.execute(
        f"SELECT {text} FROM raw WHERE nullif({text}, '') IS NOT NULL ORDER BY _row LIMIT 1"
    ).fetchone()
    sample = first[0] if first else ""
    candidates = [(f"TRY_CAST({text} AS TIMESTAMP)", "ISO 8601")] + [
        (f"TRY_STRPTIME({text}, {_lit(f)})", f) for f in AUTO_DATE_FORMATS
    ]
    for expr, label in candidates:
        probe = expr.replace(text, _lit(sample))
        if con.execute(f"SELECT {probe}").fetchone()[0] is not None:  # type: ignore[index]
            return expr, label
    return candidates[0]


def _parse(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    cols: dict[str, str],
    file: str,
    date_format: str | None,
    drop_returns: bool,
) -> tuple[str, int]:
    """Create the temp table ``log`` (one parsed row per log row); return the date format used and the
    number of rows dropped as returns."""
    ts_expr, fmt_used = _timestamp_expr(
        con, cols["timestamp"], table.schema.field(cols["timestamp"]).type, date_format, file
    )

    def text(f: str) -> str:
        return f"nullif(trim(CAST({_q(cols[f])} AS VARCHAR)), '')"

    # missing and unparseable values: one query each, first offending row reported
    hint = f" (expected format {fmt_used}; pass --date-format to change it)" if fmt_used != "native" else ""
    checks: list[tuple[str, str, str, str]] = [
        ("timestamp", f"{text('timestamp')} IS NULL", "NULL", "missing date/time"),
        (
            "timestamp",
            f"{text('timestamp')} IS NOT NULL AND ({ts_expr}) IS NULL",
            text("timestamp"),
            "cannot parse {v!r} as a date/time" + hint,
        ),
        ("amount", f"{text('amount')} IS NULL", "NULL", "missing amount"),
        (
            "amount",
            f"{text('amount')} IS NOT NULL AND NOT coalesce(isfinite(TRY_CAST({text('amount')} AS DOUBLE)), false)",
            text("amount"),
            "cannot parse {v!r} as a number",
        ),
    ]
    if "quantity" in cols:
        qty = f"TRY_CAST({text('quantity')} AS DOUBLE)"
        checks += [
            ("quantity", f"{text('quantity')} IS NULL", "NULL", "missing quantity"),
            (
                "quantity",
                f"{text('quantity')} IS NOT NULL AND NOT coalesce(isfinite({qty}), false)",
                text("quantity"),
                "cannot parse {v!r} as a number",
            ),
            (
                "quantity",
                f"{qty} IS NOT NULL AND {qty} <> floor({qty})",
                text("quantity"),
                "quantity {v} is not a whole number",
            ),
        ]
    for f, where, show, msg in checks:
        bad = _first_bad(con, where, show)
        if bad:
            raise InputDataError(msg.format(v=bad[1]), file=file, row=bad[0], column=cols[f])

    neg = [f"TRY_CAST({text('amount')} AS DOUBLE) < 0"]
    if "quantity" in cols:
        neg.append(f"TRY_CAST({text('quantity')} AS DOUBLE) < 0")
    dropped = 0
    keep = "TRUE"
    if drop_returns:
        keep = "NOT (" + " OR ".join(neg) + ")"
        dropped = int(con.execute(f"SELECT count(*) FROM raw WHERE NOT ({keep})").fetchone()[0])  # type: ignore[index]
    else:
        for f, cond in zip(("amount", "quantity"), neg, strict=False):
            bad = _first_bad(con, cond, text(f))
            if bad:
                raise InputDataError(
                    f"negative {f} {bad[1]} (a return?); negative values are not allowed — "
                    "pass --drop-returns to skip such rows",
                    file=file,
                    row=bad[0],
                    column=cols[f],
                )
    if "quantity" in cols:
        bad = _first_bad(con, f"{keep} AND TRY_CAST({text('quantity')} AS DOUBLE) = 0", text("quantity"))
        if bad:
            raise InputDataError(
                "quantity 0: a line must have at least one unit",
                file=file,
                row=bad[0],
                column=cols["quantity"],
            )

    optional = {
        "quantity": f"CAST(TRY_CAST({text('quantity')} AS DOUBLE) AS INTEGER)"
        if "quantity" in cols
        else None,
        "product": text("product") if "product" in cols else None,
        "store": text("store") if "store" in cols else None,
        "txn_key": text("txn_id") if "txn_id" in cols else None,
    }
    extra = ", ".join(f"{expr} AS {name}" for name, expr in optional.items() if expr is not None)
    con.execute(f"""
        CREATE TEMP TABLE log AS
        SELECT _row, {text("customer_id")} AS ext_customer,
               date_trunc('millisecond', {ts_expr}) AS ts,
               TRY_CAST({text("amount")} AS DOUBLE) AS amount{", " + extra if extra else ""}
        FROM raw WHERE {keep}""")
    if con.execute("SELECT count(*) FROM log").fetchone()[0] == 0:  # type: ignore[index]
        raise InputDataError("no rows left after --drop-returns", file=file)
    if "txn_id" in cols:
        for f, c in (("customer_id", "ext_customer"), ("timestamp", "ts")):
            bad = con.execute(f"""
                SELECT min(_row) FILTER (WHERE {c} IS DISTINCT FROM first_v) FROM (
                  SELECT _row, {c}, first_value({c}) OVER (PARTITION BY txn_key ORDER BY _row) AS first_v
                  FROM log)""").fetchone()[0]  # type: ignore[index]
            if bad is not None:
                raise InputDataError(
                    f"rows of one transaction id disagree on the {f}", file=file, row=int(bad), column=cols[f]
                )
    return fmt_used, dropped


# --------------------------------------------------------------------------------------------------------
# building the tables
# --------------------------------------------------------------------------------------------------------


def _select(spec: schema.TableSpec, present: dict[str, str]) -> str:
    """SELECT list of every column of ``spec``: its expression, or a typed NULL when absent."""
    parts = []
    for c in spec.columns:
        expr = present.get(c.name, f"NULL::{schema.to_duckdb_type(c.type)}")
        parts.append(f"CAST({expr} AS {schema.to_duckdb_type(c.type)}) AS {_q(c.name)}")
    return ", ".join(parts)


def _arrow(con: duckdb.DuckDBPyConnection, spec: schema.TableSpec, sql: str, absent: set[str]) -> pa.Table:
    """Run ``sql`` and type the result by the schema, with absent columns made nullable."""
    got = con.sql(sql).to_arrow_table()
    fields = [pa.field(c.name, c.type, nullable=c.nullable or c.name in absent) for c in spec.columns]
    target = pa.schema(fields)
    arrays = [got.column(c.name).cast(c.type) for c in spec.columns]
    return pa.Table.from_arrays(arrays, schema=target)


def _build_tables(
    con: duckdb.DuckDBPyConnection, cols: dict[str, str]
) -> tuple[dict[str, pa.Table], dict[str, list[str]]]:
    has_qty, has_prod, has_store, has_txn = (f in cols for f in ("quantity", "product", "store", "txn_id"))
    has_lines = has_qty or has_prod or has_txn
    key = "txn_key" if has_txn else "_row"
    con.execute(f"""
        CREATE TEMP TABLE tx AS
        SELECT {key} AS k, min(_row) AS first_row, any_value(ext_customer) AS ext_customer, min(ts) AS ts,
               sum(amount) AS amount, count(*) AS n_lines,
               {"sum(quantity)" if has_qty else "NULL"} AS n_items,
               {"any_value(store)" if has_store else "NULL"} AS store
        FROM log GROUP BY {key}""")
    con.execute(
        "CREATE TEMP TABLE tx2 AS SELECT *, row_number() OVER (ORDER BY ts, first_row) AS txn_id FROM tx"
    )
    con.execute(f"""
        CREATE TEMP TABLE cust AS
        SELECT ext_customer, row_number() OVER (ORDER BY min(ts), ext_customer) AS customer_id,
               min(ts)::DATE AS signup_date, {"mode(store)" if has_store else "NULL"} AS home_store
        FROM tx2 WHERE ext_customer IS NOT NULL GROUP BY ext_customer""")
    tables: dict[str, pa.Table] = {}
    absent: dict[str, list[str]] = {}

    def add(spec: schema.TableSpec, present: dict[str, str], sql_from: str, order: str) -> None:
        missing = [c.name for c in spec.columns if c.name not in present]
        absent[spec.name] = missing
        sql = f"SELECT {_select(spec, present)} FROM {sql_from} ORDER BY {order}"
        tables[spec.name] = _arrow(con, spec, sql, set(missing))

    if has_store:
        con.execute("""CREATE TEMP TABLE st AS SELECT store, row_number() OVER (ORDER BY store) AS store_id
                       FROM (SELECT DISTINCT store FROM log WHERE store IS NOT NULL)""")
        add(schema.STORES, {"store_id": "store_id", "store_name": "store"}, "st", "store_id")
    if has_prod:
        con.execute("""CREATE TEMP TABLE pr AS SELECT product, row_number() OVER (ORDER BY product) AS product_id
                       FROM (SELECT DISTINCT product FROM log WHERE product IS NOT NULL)""")
        add(schema.PRODUCTS, {"product_id": "product_id", "product_name": "product"}, "pr", "product_id")
    cust_cols = {"customer_id": "customer_id", "external_id": "ext_customer", "signup_date": "signup_date"}
    cust_from = "cust"
    if has_store:
        cust_cols["home_store_id"] = "st.store_id"
        cust_from = "cust LEFT JOIN st ON st.store = cust.home_store"
    add(schema.CUSTOMERS, cust_cols, cust_from, "customer_id")
    tx_cols = {
        "txn_id": "txn_id",
        "customer_id": "cust.customer_id",
        "txn_ts": "tx2.ts",
        "total_amount": "round(tx2.amount, 6)",
    }
    if has_lines:
        tx_cols["n_lines"] = "tx2.n_lines"
    if has_qty:
        tx_cols["n_items"] = "tx2.n_items"
    tx_from = "tx2 LEFT JOIN cust USING (ext_customer)"
    if has_store:
        tx_cols["store_id"] = "st.store_id"
        tx_from += " LEFT JOIN st USING (store)"
    add(schema.TRANSACTIONS, tx_cols, tx_from, "txn_id")
    if has_lines:
        ln_cols = {
            "txn_id": "tx2.txn_id",
            "line_no": f"row_number() OVER (PARTITION BY log.{key} ORDER BY log._row)",
            "line_amount": "log.amount",
        }
        ln_from = f"log JOIN tx2 ON tx2.k = log.{key}"
        if has_qty:
            ln_cols["quantity"] = "log.quantity"
            ln_cols["unit_price"] = "round(log.amount / log.quantity, 4)"
        if has_prod:
            ln_cols["product_id"] = "pr.product_id"
            ln_from += " LEFT JOIN pr USING (product)"
        add(schema.TRANSACTION_LINES, ln_cols, ln_from, "txn_id, line_no")
    return tables, {t: cs for t, cs in absent.items() if cs}


def _write(tables: dict[str, pa.Table], root: Path, fmt: FileFormat) -> list[FileRecord]:
    ext = ".parquet" if fmt == "parquet" else ".csv"
    part = f"part-00000{ext}"
    files: list[FileRecord] = []
    for name in ("stores", "products", "customers"):
        if name in tables:
            files.append(write_table(tables[name], root, f"{name}/{part}", name, fmt))
    txns = tables["transactions"]
    lines = tables.get("transaction_lines")
    line_pos = None
    if lines is not None:
        line_pos = np.searchsorted(txns.column("txn_id").to_numpy(), lines.column("txn_id").to_numpy())
    for label, a, z in month_slices(txns.column("txn_ts")):
        files.append(
            write_table(txns.slice(a, z - a), root, f"transactions/month={label}/{part}", "transactions", fmt)
        )
        if lines is not None and line_pos is not None:
            la, lz = np.searchsorted(line_pos, [a, z])
            files.append(
                write_table(
                    lines.slice(int(la), int(lz - la)),
                    root,
                    f"transaction_lines/month={label}/{part}",
                    "transaction_lines",
                    fmt,
                )
            )
    return files


def import_log(
    log: str | Path,
    out: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    date_format: str | None = None,
    delimiter: str | None = None,
    drop_returns: bool = False,
    fmt: FileFormat = "parquet",
    overwrite: bool = False,
    source_name: str | None = None,
) -> ImportResult:
    """Import a transaction log into a dataset folder with the schema ``generate`` writes.

    Parameters
    ----------
    log
        CSV (any of ``, ; tab |`` delimiters, sniffed from the header; ``.gz`` allowed) or Parquet file.
    out
        Output folder; refused if it exists unless ``overwrite``.
    mapping
        Field → source column (fields: :data:`FIELDS`). Unmapped fields use a column of the same name if
        there is one; ``customer_id``, ``timestamp`` and ``amount`` are required.
    date_format
        ``strptime`` format of the timestamp column (e.g. ``%Y%m%d``); default: ISO 8601, else one of
        :data:`AUTO_DATE_FORMATS` that parses the first value.
    delimiter
        CSV delimiter (default: sniffed from the header line).
    drop_returns
        Skip rows with a negative amount or quantity instead of failing on them.
    fmt
        ``parquet`` (default) or ``csv`` output.
    overwrite
        Replace an existing output folder.
    source_name
        Name of the source recorded in the manifest (default: the file name).

    Returns
    -------
    ImportResult
        The opened dataset and what was read, dropped and left absent.

    Raises
    ------
    InputDataError
        The first bad value (file, row, column named), a missing mapped column, an empty or unreadable file.
    OutputExistsError
        ``out`` exists and ``overwrite`` is false.
    """
    path = Path(log)
    file = str(path)
    table = read_log(path, delimiter=delimiter)
    cols = resolve_mapping(table.column_names, mapping or {}, file)
    used = sorted(set(cols.values()))
    table = table.select(used).append_column("_row", pa.array(np.arange(1, table.num_rows + 1), pa.int64()))
    con = duckdb.connect()
    try:
        con.register("raw_arrow", table)
        con.execute("CREATE TEMP TABLE raw AS SELECT * FROM raw_arrow")
        con.unregister("raw_arrow")
        fmt_used, dropped = _parse(con, table, cols, file, date_format, drop_returns)
        tables, absent = _build_tables(con, cols)
        start, last = con.execute("SELECT min(ts)::DATE, max(ts)::DATE FROM log").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    end = last + dt.timedelta(days=1)
    with staged_folder(Path(out), overwrite=overwrite) as tmp:
        files = _write(tables, tmp, fmt)
        manifest = build_manifest(
            files,
            fmt=fmt,
            kind="imported",
            extra={
                "source": {
                    "file": source_name or path.name,
                    "sha256": sha256_file(path),
                    "rows": table.num_rows,
                    "rows_dropped": dropped,
                    "mapping": cols,
                    "date_format": fmt_used,
                },
                "horizon": {"start": start.isoformat(), "end": end.isoformat()},
                "absent": absent,
            },
        )
        write_manifest(tmp, manifest)
    return ImportResult(Dataset(out), table.num_rows, dropped, cols, fmt_used, absent)
