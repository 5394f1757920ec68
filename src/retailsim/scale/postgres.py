"""Load a dataset into PostgreSQL: DDL from the one schema, rows streamed with ``COPY``, all or nothing.

How a load runs
---------------
1. Connect (a bad URL, an unreachable server or a wrong password stop here with one clear message).
2. Refuse when a table to be created already exists in the target schema, unless ``if_exists="replace"``.
3. Create a private staging schema ``retailsim_load_<id>``. Each table is created there (with the schema's
   descriptions as comments), filled with ``COPY … FROM STDIN`` from DuckDB → Arrow record batches, and given
   its primary key and unique constraints — one transaction per table. All-numeric tables (the big
   ``transaction_lines``) travel in PostgreSQL's binary format, encoded with numpy; the others as CSV written by
   Arrow. Encoding runs in a background thread, overlapping the sending.
4. One last transaction adds the foreign keys (which checks every row), the indexes on foreign-key and
   partition columns, drops the replaced tables and moves the new ones into the target schema.

Any failure (or Ctrl-C) rolls back the open transaction and drops the staging schema, so the target schema is
exactly as it was; readers of the old tables see them until the final commit. (Only a killed process can leave
a ``retailsim_load_*`` schema behind; it holds nothing but that load's tables and can be dropped.)

Types, nullability, keys and indexes all come from :mod:`retailsim.schema`; nothing here restates a column.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from retailsim import schema
from retailsim.errors import RetailsimError
from retailsim.storage.dataset import Dataset

if TYPE_CHECKING:
    import duckdb
    import psycopg

IfExists = Literal["fail", "replace"]
CopyFormat = Literal["auto", "csv", "binary"]
ProgressFn = Callable[[str, int, int], None]  # table, rows loaded so far, rows in the table
BATCH_ROWS = 200_000
STAGING_PREFIX = "retailsim_load_"


class PostgresLoadError(RetailsimError):
    """The load could not start or failed; the database is left as it was."""


# ---------------------------------------------------------------------------------------------------------
# DDL from the schema
# ---------------------------------------------------------------------------------------------------------
def pg_type(t: pa.DataType) -> str:
    """PostgreSQL type of an Arrow type of the schema."""
    if pa.types.is_list(t):
        return f"{pg_type(t.value_type)}[]"
    mapping = {
        pa.int16(): "smallint",
        pa.int32(): "integer",
        pa.int64(): "bigint",
        pa.float32(): "real",
        pa.float64(): "double precision",
        pa.string(): "text",
        pa.large_string(): "text",
        pa.bool_(): "boolean",
        pa.date32(): "date",
    }
    if t in mapping:
        return mapping[t]
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    raise PostgresLoadError(f"no PostgreSQL type for Arrow type {t}")


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _q(schema_name: str, table: str) -> str:
    return f"{quote_ident(schema_name)}.{quote_ident(table)}"


def create_table_sql(
    spec: schema.TableSpec, schema_name: str, *, not_null: bool = True, nullable: frozenset[str] = frozenset()
) -> str:
    """``CREATE TABLE`` without keys (they are added after the load, which is much faster).

    Parameters
    ----------
    not_null
        Declare the schema's non-nullable columns ``NOT NULL``.
    nullable
        Columns to leave nullable anyway (absent columns of an imported dataset hold only nulls).
    """
    cols = [
        f"  {quote_ident(c.name)} {pg_type(c.type)}"
        + (" NOT NULL" if not_null and not c.nullable and c.name not in nullable else "")
        for c in spec.columns
    ]
    return f"CREATE TABLE {_q(schema_name, spec.name)} (\n" + ",\n".join(cols) + "\n)"


def primary_key_sql(spec: schema.TableSpec, schema_name: str) -> str:
    cols = ", ".join(quote_ident(c) for c in spec.primary_key)
    name = quote_ident(f"{spec.name}_pkey")
    return f"ALTER TABLE {_q(schema_name, spec.name)} ADD CONSTRAINT {name} PRIMARY KEY ({cols})"


def unique_sql(spec: schema.TableSpec, schema_name: str) -> list[str]:
    """``UNIQUE`` constraints of the schema's unique columns that are not the primary key itself."""
    return [
        f"ALTER TABLE {_q(schema_name, spec.name)} ADD CONSTRAINT {quote_ident(f'{spec.name}_{c.name}_key')} "
        f"UNIQUE ({quote_ident(c.name)})"
        for c in spec.columns
        if c.unique and spec.primary_key != (c.name,)
    ]


def comments_sql(spec: schema.TableSpec, schema_name: str) -> list[str]:
    """``COMMENT ON`` the table and each column: the schema's one-line descriptions (and units)."""

    def lit(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    out = [f"COMMENT ON TABLE {_q(schema_name, spec.name)} IS {lit(spec.description)}"]
    for c in spec.columns:
        text = c.description + (f" [{c.unit}]" if c.unit else "")
        out.append(f"COMMENT ON COLUMN {_q(schema_name, spec.name)}.{quote_ident(c.name)} IS {lit(text)}")
    return out


def foreign_key_sql(spec: schema.TableSpec, fk: schema.ForeignKey, schema_name: str) -> str:
    name = quote_ident(f"{spec.name}_{'_'.join(fk.columns)}_fkey")
    cols = ", ".join(quote_ident(c) for c in fk.columns)
    ref = ", ".join(quote_ident(c) for c in fk.ref_columns)
    return (
        f"ALTER TABLE {_q(schema_name, spec.name)} ADD CONSTRAINT {name} "
        f"FOREIGN KEY ({cols}) REFERENCES {_q(schema_name, fk.ref_table)} ({ref})"
    )


def index_columns(spec: schema.TableSpec) -> list[tuple[str, ...]]:
    """Secondary indexes: each foreign key not already led by the primary key, and the partition column."""
    out: list[tuple[str, ...]] = []
    for fk in spec.foreign_keys:
        if tuple(spec.primary_key[: len(fk.columns)]) != fk.columns and fk.columns not in out:
            out.append(fk.columns)
    part = spec.partition_by_month
    if part and part in spec.column_index and (part,) not in out:
        out.append((spec.partition_by_month,))
    return out


def index_sql(spec: schema.TableSpec, columns: tuple[str, ...], schema_name: str) -> str:
    name = quote_ident(f"{spec.name}_{'_'.join(columns)}_idx")
    cols = ", ".join(quote_ident(c) for c in columns)
    return f"CREATE INDEX {name} ON {_q(schema_name, spec.name)} ({cols})"


def postgres_ddl(
    specs: list[schema.TableSpec] | None = None, schema_name: str = "public", *, constraints: bool = True
) -> str:
    """The whole PostgreSQL DDL of ``specs`` (default: the data tables) in load order: tables, then primary
    keys, foreign keys and indexes — what :func:`load_postgres` runs around the ``COPY``."""
    specs = dependency_order(list(schema.DATA_TABLES) if specs is None else specs)
    names = {s.name for s in specs}
    stmts = [create_table_sql(s, schema_name, not_null=constraints) for s in specs]
    stmts += [c for s in specs for c in comments_sql(s, schema_name)]
    if constraints:
        stmts += [primary_key_sql(s, schema_name) for s in specs if s.primary_key]
        stmts += [u for s in specs for u in unique_sql(s, schema_name)]
        stmts += [
            foreign_key_sql(s, fk, schema_name)
            for s in specs
            for fk in s.foreign_keys
            if fk.ref_table in names
        ]
        stmts += [index_sql(s, cols, schema_name) for s in specs for cols in index_columns(s)]
    return ";\n\n".join(stmts) + ";\n"


# ---------------------------------------------------------------------------------------------------------
# Rows: DuckDB → Arrow batches → CSV chunks
# ---------------------------------------------------------------------------------------------------------
def select_sql(spec: schema.TableSpec) -> str:
    """DuckDB query producing the table's columns in schema order, lists as PostgreSQL array literals."""
    exprs = []
    for c in spec.columns:
        col = quote_ident(c.name)
        if pa.types.is_list(c.type):
            exprs.append(f"'{{' || array_to_string({col}, ',') || '}}' AS {col}")
        else:
            exprs.append(col)
    return f"SELECT {', '.join(exprs)} FROM {quote_ident(spec.name)}"


_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def _csv_bytes(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, _CSV_OPTIONS)
    return bytes(sink.getvalue().to_pybytes())


def csv_chunks(reader: pa.RecordBatchReader, prefetch: int = 3) -> Iterator[tuple[bytes, int]]:
    """CSV bytes of each record batch (strings quoted, nulls empty: PostgreSQL's CSV reading of ``""`` vs
    NULL), produced in a background thread so that encoding overlaps sending."""
    return _in_background(reader, _csv_bytes, prefetch)


def _in_background(
    reader: pa.RecordBatchReader, encode: Callable[[pa.RecordBatch], bytes], prefetch: int
) -> Iterator[tuple[bytes, int]]:
    """``(encode(batch), rows)`` for each batch, computed in a thread ``prefetch`` batches ahead."""
    q: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in reader:
                if stop.is_set():
                    return
                q.put((encode(batch), batch.num_rows))
            q.put(None)
        except BaseException as err:  # handed to the consumer
            q.put(err)

    t = threading.Thread(target=produce, name="retailsim-copy-encoder", daemon=True)
    t.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        t.join(timeout=5)


# PostgreSQL's binary COPY: a signature, then per row an int16 field count and per field an int32 length
# (-1 = NULL) and the big-endian value; an int16 -1 ends the stream. Dates count days and timestamps
# microseconds from 2000-01-01.
BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2
BINARY_TRAILER = b"\xff\xff"
_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000


def _wire(t: pa.DataType) -> tuple[str, pa.DataType] | None:
    """Big-endian numpy type of a fixed-width column in binary COPY, and the Arrow type to cast to first."""
    if pa.types.is_timestamp(t):
        return ">i8", pa.timestamp("us", t.tz)
    simple = {
        pa.int16(): ">i2",
        pa.int32(): ">i4",
        pa.int64(): ">i8",
        pa.float32(): ">f4",
        pa.float64(): ">f8",
        pa.bool_(): "u1",
        pa.date32(): ">i4",
    }
    return (simple[t], t) if t in simple else None


def binary_copy_supported(spec: schema.TableSpec) -> bool:
    """True when every column is fixed-width (numbers, booleans, dates, timestamps): then rows are encoded in
    PostgreSQL's binary COPY format with numpy, which the server parses faster than CSV and costs the client
    almost nothing. Tables with text or arrays go as CSV."""
    return all(_wire(c.type) is not None for c in spec.columns)


def encode_binary(batch: pa.RecordBatch, spec: schema.TableSpec) -> bytes:
    """Rows of ``batch`` in binary COPY format (without signature and trailer), vectorised with numpy.

    Rows are grouped by which of their columns are NULL (each group has one fixed layout, a numpy structured
    type filled column by column); the order of rows within the COPY does not matter to a table.
    """
    n = batch.num_rows
    values: list[np.ndarray] = []
    valid: list[np.ndarray | None] = []
    codes: list[str] = []
    for c in spec.columns:
        code, cast_to = _wire(c.type)  # type: ignore[misc]
        arr = batch.column(c.name)
        if arr.type != cast_to:
            arr = arr.cast(cast_to)
        mask = None if arr.null_count == 0 else np.asarray(arr.is_valid())
        if pa.types.is_timestamp(cast_to):
            v = arr.cast(pa.int64()).fill_null(0).to_numpy() - _PG_EPOCH_US
        elif pa.types.is_date32(cast_to):
            v = arr.cast(pa.int32()).fill_null(0).to_numpy() - _PG_EPOCH_DAYS
        elif pa.types.is_boolean(cast_to):
            v = np.asarray(arr.fill_null(False)).astype(np.uint8)
        else:
            v = arr.fill_null(0).to_numpy()
        values.append(v)
        valid.append(mask)
        codes.append(code)
    nullable = [i for i, m in enumerate(valid) if m is not None]
    pattern = np.zeros(n, np.int64)
    for bit, i in enumerate(nullable):
        pattern |= (~valid[i]).astype(np.int64) << bit  # type: ignore[operator]
    groups = (
        [(0, None)] if not nullable else [(int(p), np.flatnonzero(pattern == p)) for p in np.unique(pattern)]
    )
    layouts = []
    for p, rows in groups:
        null_cols = {i for bit, i in enumerate(nullable) if (p >> bit) & 1}
        fields: list[tuple[str, str]] = [("n", ">i2")]
        for i, code in enumerate(codes):
            fields.append((f"l{i}", ">i4"))
            if i not in null_cols:
                fields.append((f"v{i}", code))
        layouts.append((np.dtype(fields), rows, null_cols))
    # one buffer for the batch; each group is a structured view into its slice (no extra copies)
    buf = bytearray(sum(dt.itemsize * (n if rows is None else len(rows)) for dt, rows, _ in layouts))
    offset = 0
    for dt, rows, null_cols in layouts:
        count = n if rows is None else len(rows)
        out = np.frombuffer(buf, dt, count, offset)
        offset += dt.itemsize * count
        out["n"] = len(codes)
        for i, code in enumerate(codes):
            if i in null_cols:
                out[f"l{i}"] = -1
            else:
                out[f"l{i}"] = np.dtype(code).itemsize
                out[f"v{i}"] = values[i] if rows is None else values[i][rows]
    return bytes(buf)


def binary_chunks(
    reader: pa.RecordBatchReader, spec: schema.TableSpec, prefetch: int = 3
) -> Iterator[tuple[bytes, int]]:
    """Binary COPY bytes of each record batch, the signature first and the trailer last (background thread)."""
    yield BINARY_SIGNATURE, 0
    yield from _in_background(reader, lambda b: encode_binary(b, spec), prefetch)
    yield BINARY_TRAILER, 0


# ---------------------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------------------
@dataclass
class LoadReport:
    """What was loaded: rows per table, seconds per table (``copy_seconds``: the ``COPY`` alone, without
    creating the table and its primary key) and in total."""

    schema: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    copy_seconds: dict[str, float] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)
    total_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return re.sub(r"(password\s*=\s*)\S+", r"\1***", url)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _connect(url: str, connect_timeout: int) -> psycopg.Connection[Any]:
    import psycopg

    if not url or not (url.startswith(("postgresql://", "postgres://")) or "=" in url):
        raise PostgresLoadError(
            f"not a PostgreSQL URL: {redact(url)!r}; expected postgresql://user:password@host:5432/dbname"
        )
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
        port = str(params.get("port") or "5432")
        if not all(p.strip().isdigit() for p in port.split(",")):
            raise psycopg.ProgrammingError(f"the port must be a number (got {port!r})")
        return psycopg.connect(url, connect_timeout=connect_timeout, application_name="retailsim load")
    except psycopg.ProgrammingError as err:  # malformed conninfo
        raise PostgresLoadError(f"bad PostgreSQL URL {redact(url)!r}: {err}") from None
    except psycopg.OperationalError as err:  # refused, unknown host, authentication, missing database
        msg = str(err).strip().replace("\n", " ")
        if "invalid" in msg and "connection option" in msg:
            raise PostgresLoadError(f"bad PostgreSQL URL {redact(url)!r}: {msg}") from None
        if "password authentication failed" in msg or "no password supplied" in msg:
            hint = "authentication failed: check the user and password"
        elif "does not exist" in msg:
            hint = "the database or role does not exist"
        else:
            hint = "cannot connect"
        raise PostgresLoadError(f"{hint} ({redact(url)}): {msg}") from None


def plan_tables(ds: Dataset, tables: list[str] | None, truth: bool) -> list[schema.TableSpec]:
    """The tables to load, referenced tables before the tables that reference them."""
    specs = [s for s in schema.TABLES.values() if ds.has(s.name) and (truth or not s.truth)]
    if tables:
        unknown = sorted(set(tables) - {s.name for s in specs})
        if unknown:
            raise PostgresLoadError(
                f"table(s) not in this dataset: {', '.join(unknown)}; it has "
                f"{', '.join(s.name for s in specs)}{'' if truth else ' (and truth tables with --truth)'}"
            )
        specs = [s for s in specs if s.name in tables]
    if not specs:
        raise PostgresLoadError(f"{ds.path}: no tables to load")
    return dependency_order(specs)


def dependency_order(specs: list[schema.TableSpec]) -> list[schema.TableSpec]:
    """``specs`` sorted so that every table comes after the tables its foreign keys reference (stable)."""
    names = {s.name for s in specs}
    done: list[schema.TableSpec] = []
    left = list(specs)
    while left:
        placed = {s.name for s in done}
        ready = [
            s
            for s in left
            if all(
                fk.ref_table in placed or fk.ref_table not in names or fk.ref_table == s.name
                for fk in s.foreign_keys
            )
        ]
        if not ready:  # a cycle: keep the schema order (foreign keys are added after every table is loaded)
            ready = left[:1]
        done += ready
        left = [s for s in left if s not in ready]
    return done


def _existing(cur: psycopg.Cursor[Any], schema_name: str, names: list[str]) -> list[str]:
    cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name = ANY(%s)",
        (schema_name, names),
    )
    found = {r[0] for r in cur.fetchall()}
    return [n for n in names if n in found]


def load_postgres(
    dataset: Dataset | str,
    url: str,
    *,
    schema_name: str = "public",
    if_exists: IfExists = "fail",
    tables: list[str] | None = None,
    truth: bool = False,
    constraints: bool = True,
    batch_rows: int = BATCH_ROWS,
    copy_format: CopyFormat = "auto",
    connect_timeout: int = 10,
    on_progress: ProgressFn | None = None,
) -> LoadReport:
    """Create the dataset's tables in PostgreSQL and fill them with ``COPY``; all or nothing.

    Parameters
    ----------
    dataset
        A :class:`Dataset` or its folder (any format: Parquet, CSV, DuckDB).
    url
        ``postgresql://user:password@host:port/dbname`` (or a libpq ``key=value`` string).
    schema_name
        Target schema, created when missing.
    if_exists
        ``fail`` (default): refuse when a table to be created already exists; ``replace``: swap the new tables
        in, in one transaction, once they are completely loaded and checked.
    tables
        Only these tables (default: every data table of the dataset).
    truth
        Also load the ground-truth tables (``customer_truth``, ``calendar``).
    constraints
        Add NOT NULL, primary and foreign keys. Turn off for datasets with injected defects, whose orphans and
        duplicates the keys would refuse.
    batch_rows
        Rows per Arrow batch streamed into ``COPY``.
    copy_format
        ``auto``: PostgreSQL's binary format for tables of fixed-width columns only (``transaction_lines``,
        ``calendar``), CSV for the others; or force ``csv`` (``binary`` fails on text columns).

    Returns
    -------
    LoadReport
        Rows and seconds per table.

    Raises
    ------
    PostgresLoadError
        Bad URL, unreachable server, failed authentication, existing tables, or a failed load; in every case
        the target schema is left as it was.
    """
    import psycopg

    if if_exists not in ("fail", "replace"):
        raise PostgresLoadError(f"if_exists must be fail or replace (got {if_exists!r})")
    if copy_format not in ("auto", "csv", "binary"):
        raise PostgresLoadError(f"copy_format must be auto, csv or binary (got {copy_format!r})")
    if not schema_name or len(schema_name) > 63:
        raise PostgresLoadError("--schema must be a non-empty name of at most 63 characters")
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    specs = plan_tables(ds, tables, truth)
    names = [s.name for s in specs]
    if copy_format == "binary" and (text := [s.name for s in specs if not binary_copy_supported(s)]):
        raise PostgresLoadError(
            f"copy_format binary needs fixed-width columns only; {', '.join(text)} have text or arrays "
            "(use auto)"
        )
    started = time.perf_counter()
    report = LoadReport(schema=schema_name)
    conn = _connect(url, connect_timeout)
    staging = STAGING_PREFIX + uuid.uuid4().hex[:10]
    staged = False
    try:
        with conn.cursor() as cur:
            existing = _existing(cur, schema_name, names)
            conn.rollback()
            if existing and if_exists == "fail":
                raise PostgresLoadError(
                    f"table(s) already exist in schema {schema_name!r}: {', '.join(existing)}; "
                    "pass --if-exists replace to replace them (nothing was changed)"
                )
            cur.execute(f"CREATE SCHEMA {quote_ident(staging)}")
            conn.commit()
            staged = True
            duck = ds.connect()
            try:
                for spec in specs:
                    t0 = time.perf_counter()
                    absent = frozenset(ds.absent_columns(spec.name))
                    report.rows[spec.name], report.copy_seconds[spec.name] = _load_table(
                        conn,
                        cur,
                        duck,
                        ds,
                        spec,
                        staging,
                        constraints,
                        absent,
                        batch_rows,
                        copy_format,
                        on_progress,
                    )
                    report.seconds[spec.name] = time.perf_counter() - t0
            finally:
                duck.close()
            t0 = time.perf_counter()
            with conn.transaction():
                if constraints:
                    for spec in specs:
                        for fk in spec.foreign_keys:
                            if fk.ref_table in names and not set(fk.columns) & ds.absent_columns(spec.name):
                                cur.execute(foreign_key_sql(spec, fk, staging))
                for spec in specs:
                    for cols in index_columns(spec):
                        cur.execute(index_sql(spec, cols, staging))
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema_name)}")
                existing = _existing(cur, schema_name, names)
                if existing and if_exists == "fail":  # created by someone else meanwhile
                    raise PostgresLoadError(
                        f"table(s) appeared in schema {schema_name!r} during the load: {', '.join(existing)}"
                    )
                for name in reversed(names):  # dependants first; no CASCADE: never drop a user's views
                    if name in existing:
                        cur.execute(f"DROP TABLE {_q(schema_name, name)}")
                for name in names:
                    cur.execute(f"ALTER TABLE {_q(staging, name)} SET SCHEMA {quote_ident(schema_name)}")
                cur.execute(f"DROP SCHEMA {quote_ident(staging)}")
            staged = False
            report.replaced = existing
            report.seconds["_keys_and_swap"] = time.perf_counter() - t0
    except psycopg.Error as err:
        raise PostgresLoadError(_describe(err)) from None
    finally:
        if staged:
            _drop_staging(conn, url, staging, connect_timeout)
        conn.close()
    report.total_seconds = time.perf_counter() - started
    return report


def _load_table(
    conn: psycopg.Connection[Any],
    cur: psycopg.Cursor[Any],
    duck: duckdb.DuckDBPyConnection,
    ds: Dataset,
    spec: schema.TableSpec,
    staging: str,
    constraints: bool,
    absent: frozenset[str],
    batch_rows: int,
    copy_format: CopyFormat,
    on_progress: ProgressFn | None,
) -> tuple[int, float]:
    """Create, ``COPY`` and key one table in the staging schema, in one transaction; rows and COPY seconds."""
    total = ds.rows(spec.name)
    cols = ", ".join(quote_ident(c.name) for c in spec.columns)
    copied = 0
    with conn.transaction():
        cur.execute(create_table_sql(spec, staging, not_null=constraints, nullable=absent))
        for stmt in comments_sql(spec, staging):
            cur.execute(stmt)
        reader = duck.sql(select_sql(spec)).to_arrow_reader(batch_rows)
        t0 = time.perf_counter()
        binary = copy_format == "binary" or (copy_format == "auto" and binary_copy_supported(spec))
        chunks = binary_chunks(reader, spec) if binary else csv_chunks(reader)
        fmt = "binary" if binary else "csv"
        with cur.copy(f"COPY {_q(staging, spec.name)} ({cols}) FROM STDIN (FORMAT {fmt})") as copy:
            for chunk, n in chunks:
                copy.write(chunk)
                copied += n
                if on_progress:
                    on_progress(spec.name, copied, total)
        copy_s = time.perf_counter() - t0
        if constraints:
            for stmt in ([primary_key_sql(spec, staging)] if spec.primary_key else []) + unique_sql(
                spec, staging
            ):
                cur.execute(stmt)
    if on_progress:
        on_progress(spec.name, copied, total)
    return copied, copy_s


def _describe(err: Exception) -> str:
    """One clear line for a database error: the server's message, detail and the failing statement's kind."""
    diag = getattr(err, "diag", None)
    msg = (getattr(diag, "message_primary", None) or str(err)).strip()
    detail = getattr(diag, "message_detail", None)
    where = getattr(diag, "table_name", None)
    out = f"load failed{f' on table {where}' if where else ''}: {msg}"
    if detail:
        out += f" ({detail})"
    return out + "; the database was left as it was"


def _drop_staging(conn: psycopg.Connection[Any], url: str, staging: str, connect_timeout: int) -> None:
    """Best-effort removal of the staging schema after a failure (on a fresh connection if needed)."""
    import psycopg

    stmt = f"DROP SCHEMA IF EXISTS {quote_ident(staging)} CASCADE"
    try:
        conn.rollback()
        conn.execute(stmt)
        conn.commit()
        return
    except (psycopg.Error, OSError):
        pass
    with (
        contextlib.suppress(psycopg.Error, OSError),
        psycopg.connect(url, connect_timeout=connect_timeout) as c2,
    ):
        c2.execute(stmt)
