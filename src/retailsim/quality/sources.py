"""Each table of a dataset as one DuckDB relation ``__src_<table>``, typed by the schema, with row identity.

Every relation has the schema's columns (cast where a file stores a compatible type), plus ``__file`` (the
file, relative to the dataset root for CSV and DuckDB; absolute for Parquet, see :meth:`Sources.relpath`)
and ``__row`` (0-based record number in that file; ``rowid`` for a DuckDB file). CSV tables also have
``__unparsed`` (the columns whose cell did not parse as the schema type) and ``__unparsed_detail``.

Before anything runs, every file is checked (present, readable, has the schema's columns with compatible
types); a problem raises :class:`~retailsim.errors.DatasetError` with one clear message ("could not run").
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retailsim import schema
from retailsim.errors import DatasetError
from retailsim.quality.rules import lit, q
from retailsim.storage.dataset import DUCKDB_FILE, Dataset


@dataclass
class Source:
    """One table's relation and what is known about it."""

    table: str
    relation: str
    files: list[str]  # relative paths
    rows: int = 0
    kind: str = "parquet"  # parquet | csv | duckdb | records
    extra_columns: list[str] = field(default_factory=list)


def _family(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def compatible(got: pa.DataType, want: pa.DataType) -> bool:
    """Whether a stored type can stand for the schema type (a cast then makes it exact)."""
    g, w = _family(got), _family(want)
    return g == w or g == "null" or (g == "int" and w == "float")


def _typed_select(spec: schema.TableSpec, stored: dict[str, pa.DataType] | None) -> str:
    parts = []
    for c in spec.columns:
        if stored is not None and stored.get(c.name) == c.type:
            parts.append(q(c.name))
        else:
            parts.append(f"CAST({q(c.name)} AS {schema.to_duckdb_type(c.type)}) AS {q(c.name)}")
    return ", ".join(parts)


class Sources:
    """Opens the data tables of ``ds`` on ``con`` as ``__src_<table>``."""

    def __init__(self, ds: Dataset, con: duckdb.DuckDBPyConnection) -> None:
        self.ds = ds
        self.con = con
        self.root = ds.path.resolve()
        self.by_table: dict[str, Source] = {}

    def relpath(self, path: str) -> str:
        """A ``__file`` value relative to the dataset root."""
        prefix = str(self.root) + "/"
        return path[len(prefix) :] if path.startswith(prefix) else path

    def relpath_sql(self, expr: str = "__file") -> str:
        prefix = str(self.root) + "/"
        return f"CASE WHEN starts_with({expr}, {lit(prefix)}) THEN {expr}[{len(prefix) + 1}:] ELSE {expr} END"

    def open(self, tables: list[str]) -> dict[str, Source]:
        attached = False
        for t in tables:
            spec = schema.table(t)
            files = self.ds.files(t)
            rel = [str(p.relative_to(self.ds.path)) for p in files]
            for p in files:
                if not p.exists():
                    raise DatasetError(
                        f"{self.ds.path}: file {p.relative_to(self.ds.path)} listed in the manifest is missing"
                    )
            if not files:
                continue
            if files[0].suffix == ".duckdb":
                if not attached:
                    self.con.execute(f"ATTACH {lit(str(self.root / DUCKDB_FILE))} AS rs_db (READ_ONLY)")
                    attached = True
                src = self._open_duckdb(spec)
            elif files[0].suffix == ".csv":
                src = self._open_csv(spec, files)
            else:
                src = self._open_parquet(spec, files)
            src.files = sorted(set(rel))
            src.rows = int(self.con.execute(f"SELECT count(*) FROM {src.relation}").fetchall()[0][0])
            self.by_table[t] = src
        return self.by_table

    # ---- Parquet
    def _open_parquet(self, spec: schema.TableSpec, files: list[Path]) -> Source:
        stored: dict[str, pa.DataType] = {}
        layouts = set()
        for p in files:
            rel = p.relative_to(self.ds.path)
            try:
                got = pq.read_schema(p)
            except (pa.ArrowInvalid, OSError) as err:
                raise DatasetError(f"unreadable Parquet file {rel}: {err}") from None
            names = got.names
            layouts.add(tuple(names))
            for c in spec.columns:
                if c.name not in names:
                    raise DatasetError(f"schema mismatch: {rel} has no column {c.name!r} (table {spec.name})")
                t = got.field(c.name).type
                if not compatible(t, c.type):
                    raise DatasetError(
                        f"schema mismatch: {rel} column {c.name!r} is {t}, the schema says {c.type}"
                    )
                if stored.get(c.name, t) != t:
                    stored[c.name] = pa.null()  # differs between files: always cast
                else:
                    stored[c.name] = t
        listing = "[" + ", ".join(lit(str(p.resolve())) for p in files) + "]"
        union = ", union_by_name = true" if len(layouts) > 1 else ""
        rel_name = f"__src_{spec.name}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {rel_name} AS SELECT {_typed_select(spec, stored)}, "
            f"filename AS __file, file_row_number AS __row FROM read_parquet({listing}, filename = true, "
            f"file_row_number = true, hive_partitioning = false{union})"
        )
        return Source(spec.name, rel_name, [], kind="parquet")

    # ---- DuckDB database file
    def _open_duckdb(self, spec: schema.TableSpec) -> Source:
        try:
            cols = self.con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'rs_db' "
                "AND table_name = ?",
                [spec.name],
            ).fetchall()
        except duckdb.Error as err:  # pragma: no cover - the catalog query itself
            raise DatasetError(f"unreadable DuckDB file {DUCKDB_FILE}: {err}") from None
        if not cols:
            raise DatasetError(f"schema mismatch: {DUCKDB_FILE} has no table {spec.name!r}")
        have = {name: typ for name, typ in cols}
        for c in spec.columns:
            if c.name not in have:
                raise DatasetError(
                    f"schema mismatch: {DUCKDB_FILE} table {spec.name} has no column {c.name!r}"
                )
        rel_name = f"__src_{spec.name}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {rel_name} AS SELECT {_typed_select(spec, None)}, "
            f"{lit(DUCKDB_FILE)} AS __file, rowid AS __row FROM rs_db.{q(spec.name)}"
        )
        return Source(spec.name, rel_name, [], kind="duckdb")

    # ---- CSV: read as text, then parse every cell with TRY_CAST so a bad cell becomes a finding
    def _open_csv(self, spec: schema.TableSpec, files: list[Path]) -> Source:
        raw = f"__raw_{spec.name}"
        names = spec.column_names
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {raw} ("
            + ", ".join(f"{q(n)} VARCHAR" for n in names)
            + ", __file VARCHAR, __row BIGINT)"
        )
        for p in files:
            rel = str(p.relative_to(self.ds.path))
            tbl = read_csv_text(p, names, rel)
            tbl = tbl.append_column("__file", pa.array([rel] * tbl.num_rows, pa.string()))
            tbl = tbl.append_column("__row", pa.array(np.arange(tbl.num_rows, dtype=np.int64)))
            self.con.register("__csv_chunk", tbl)
            try:
                self.con.execute(f"INSERT INTO {raw} SELECT * FROM __csv_chunk")
            finally:
                self.con.unregister("__csv_chunk")
        rel_name = f"__src_{spec.name}"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {rel_name} AS SELECT {parse_select(spec)} FROM {raw}")
        self.con.execute(f"DROP TABLE {raw}")
        return Source(spec.name, rel_name, [], kind="csv")


def read_csv_text(path: Path, names: list[str] | None, rel: str) -> pa.Table:
    """Read a CSV file with every schema column (``names``; None: every column) as text (unquoted empty
    cell = NULL)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except UnicodeDecodeError as err:
        raise DatasetError(f"unreadable CSV file {rel}: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise DatasetError(f"unreadable CSV file {rel}: {err}") from None
    names = list(header) if names is None else names
    missing = [n for n in names if n not in header]
    if missing:
        raise DatasetError(f"schema mismatch: {rel} has no column(s) {', '.join(missing)}")
    try:
        tbl = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                include_columns=names,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(f"unreadable CSV file {rel}: {err}") from None
    return tbl


def parse_select(spec: schema.TableSpec, extra: str = "__file, __row") -> str:
    """SELECT list turning text columns into schema types, with ``__unparsed`` and ``__unparsed_detail``."""
    typed, flags, details = [], [], []
    for c in spec.columns:
        n = q(c.name)
        if pa.types.is_string(c.type):
            typed.append(f"CAST({n} AS VARCHAR) AS {n}")
            continue
        sql_type = schema.to_duckdb_type(c.type)
        cast = f"TRY_CAST({n} AS {sql_type})"
        typed.append(f"{cast} AS {n}")
        bad = f"{n} IS NOT NULL AND {cast} IS NULL"
        flags.append(f"CASE WHEN {bad} THEN {lit(c.name)} END")
        details.append(
            f"CASE WHEN {bad} THEN {lit(c.name + ': cannot parse ')} || '''' || {n} || '''' || "
            f"{lit(' as ' + sql_type)} END"
        )
    unparsed = f"[x FOR x IN [{', '.join(flags)}] IF x IS NOT NULL]" if flags else "CAST([] AS VARCHAR[])"
    detail = f"concat_ws('; ', {', '.join(details)})" if details else "''"
    return f"{', '.join(typed)}, {extra}, {unparsed} AS __unparsed, {detail} AS __unparsed_detail"
