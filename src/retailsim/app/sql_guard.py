"""Hardened, read-only SQL over one dataset: the engine behind the dashboard's SQL explorer.

Three independent layers, so that a gap in one is caught by the next:

1. **Parsing, not pattern matching.** DuckDB's own parser (:func:`duckdb.extract_statements`) must find exactly one
   statement and it must be a ``SELECT`` (which covers ``WITH … SELECT``, ``FROM …``, ``VALUES``, ``DESCRIBE``,
   ``SHOW`` and ``SUMMARIZE``). Every other statement type — ``COPY``, ``EXPORT``, ``ATTACH``, ``INSTALL``/``LOAD``,
   ``PRAGMA``, ``SET``/``RESET``/``USE``, ``CREATE``, ``INSERT``/``UPDATE``/``DELETE``, ``DROP``, ``CALL`` … — is
   refused with a message naming it. The statement's syntax tree (``json_serialize_sql``) is then walked: file
   readers (``read_csv``, ``read_parquet``, ``read_text``, ``glob`` …) and ``FROM 'file'`` scans may only name
   literal paths inside the dataset folder, and dynamic SQL (``query()``, ``json_execute_serialized_sql``) is
   refused.
2. **A separate, locked connection.** The explorer never shares the dashboard's connection. Its in-memory
   database gets one view per table, created *before* locking; then external access is switched off except for
   the dataset folder (``allowed_directories``), spilling to disk is disabled (no temp files), extension
   auto-install/auto-load is off, and ``lock_configuration`` freezes all of it, so no later statement can undo it.
   Reads of any other file fail inside DuckDB with a permission error, whatever the parser layer missed.
3. **Bounded execution.** Each query runs on its own cursor; a timer thread calls ``interrupt()`` when the time
   limit passes, and results are streamed in record batches and cut at the row cap (the rest is never
   materialised). The connection also has a memory limit.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from retailsim.errors import RetailsimError
from retailsim.storage.dataset import Dataset

DEFAULT_ROW_CAP = 10_000
MAX_ROW_CAP = 100_000
DEFAULT_TIME_LIMIT_S = 10.0
MAX_TIME_LIMIT_S = 60.0
DEFAULT_MEMORY_LIMIT = "2GB"

# Table functions that read files (or remote objects). Their path argument must be a literal inside the dataset.
FILE_FUNCTIONS = frozenset(
    {
        "read_csv",
        "read_csv_auto",
        "sniff_csv",
        "read_parquet",
        "parquet_scan",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "parquet_bloom_probe",
        "parquet_full_metadata",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_json_objects_auto",
        "read_ndjson",
        "read_ndjson_auto",
        "read_ndjson_objects",
        "read_text",
        "read_blob",
        "read_xlsx",
        "read_avro",
        "read_duckdb",
        "glob",
        "st_read",
        "st_read_meta",
        "delta_scan",
        "iceberg_scan",
        "iceberg_metadata",
        "iceberg_snapshots",
        "sqlite_scan",
        "sqlite_attach",
        "postgres_scan",
        "postgres_attach",
        "mysql_scan",
    }
)
# Table functions that run SQL given as a string: the inner SQL could not be checked, so they are refused.
DYNAMIC_SQL_FUNCTIONS = frozenset({"query", "query_table", "json_execute_serialized_sql"})

_STATEMENT_NAMES: dict[str, str] = {
    "COPY": "COPY (reading or writing files)",
    "EXPORT": "EXPORT DATABASE (writing files)",
    "ATTACH": "ATTACH (opening another database)",
    "DETACH": "DETACH",
    "LOAD": "INSTALL/LOAD (extensions)",
    "PRAGMA": "PRAGMA",
    "SET": "SET/RESET/USE (changing configuration)",
    "VARIABLE_SET": "SET VARIABLE",
    "CREATE": "CREATE",
    "CREATE_FUNC": "CREATE FUNCTION/MACRO",
    "INSERT": "INSERT",
    "UPDATE": "UPDATE",
    "DELETE": "DELETE",
    "DROP": "DROP",
    "ALTER": "ALTER",
    "CALL": "CALL",
    "EXPLAIN": "EXPLAIN",
    "TRANSACTION": "BEGIN/COMMIT/ROLLBACK",
    "VACUUM": "VACUUM",
    "PREPARE": "PREPARE",
    "EXECUTE": "EXECUTE",
    "ANALYZE": "ANALYZE",
    "MULTI": "PIVOT without an IN list (it creates types; list the values: PIVOT … ON col IN (…))",
    "UPDATE_EXTENSIONS": "UPDATE EXTENSIONS",
    "MERGE_INTO": "MERGE INTO",
    "COPY_DATABASE": "COPY FROM DATABASE",
}


class QueryRefused(RetailsimError):
    """The query is not a single read-only SELECT over the dataset, or it could not run within the limits."""


class QueryTimeout(QueryRefused):
    """The query ran past the time limit and was interrupted."""


@dataclass(frozen=True)
class QueryResult:
    """The first ``row_cap`` rows of a query, with whether more existed and how long it took."""

    table: pa.Table
    truncated: bool
    elapsed_s: float
    sql: str

    @property
    def df(self) -> pd.DataFrame:
        return self.table.to_pandas()


def _statement_kind(stmt: Any) -> str:
    return str(stmt.type).rsplit(".", 1)[-1]


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _literal_strings(expr: dict[str, Any]) -> list[str] | None:
    """The path(s) of a file function's first argument when it is a string literal or a list of them."""
    if expr.get("class") == "CONSTANT":
        lit = expr.get("literal", {})
        return [str(lit.get("text"))] if lit.get("kind") == "STRING" else None
    if expr.get("class") == "FUNCTION" and expr.get("function_name") in ("list_value", "array_value"):
        out: list[str] = []
        for arg in expr.get("arguments", []):
            got = _literal_strings(arg.get("expression", {}))
            if got is None:
                return None
            out += got
        return out
    return None


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or ":" in name or "." in name or "*" in name


class SqlGuard:
    """Read-only, locked DuckDB access to one dataset for untrusted SQL.

    Parameters
    ----------
    dataset
        Dataset folder (or an open :class:`Dataset`).
    memory_limit
        DuckDB ``memory_limit`` of the explorer's database (no spilling to disk).
    threads
        DuckDB worker threads.

    Raises
    ------
    DatasetError
        When the folder is not a complete dataset.
    """

    def __init__(
        self, dataset: str | Path | Dataset, *, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int = 2
    ) -> None:
        path = dataset.path if isinstance(dataset, Dataset) else Path(dataset)
        self.root = Path(os.path.realpath(path))
        self.dataset = Dataset(self.root)
        self._lock = threading.Lock()
        self._con = duckdb.connect(
            config={"temp_directory": "", "memory_limit": memory_limit, "threads": str(threads)}
        )
        self.dataset.connect(self._con)
        self.views = list(self.dataset.tables)
        for name, rel in self.extra_files().items():
            quoted = "'" + str(self.root / rel).replace("'", "''") + "'"
            self._con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({quoted})')
            self.views.append(name)
        self._lock_down()

    def extra_files(self) -> dict[str, Path]:
        """Derived Parquet outputs inside the dataset exposed as views too (loyalty history, quarantine)."""
        out: dict[str, Path] = {}
        tier = Path("loyalty") / "tier_history.parquet"
        if (self.root / tier).is_file():
            out["tier_history"] = tier
        qdir = self.root / "quarantine"
        if qdir.is_dir():
            for f in sorted(qdir.glob("*.parquet")):
                if f.stem.replace("_", "").isalnum():
                    out[f"quarantine_{f.stem}"] = f.relative_to(self.root)
        return out

    def _escaping_links(self) -> bool:
        """True when a symbolic link inside the dataset points outside it (then only listed files are readable)."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if p.is_symlink():
                    target = os.path.realpath(p)
                    if os.path.commonpath([target, self.root]) != str(self.root):
                        return True
        return False

    def _lock_down(self) -> None:
        con = self._con
        if self._escaping_links():
            files = [str(self.root / f["path"]) for f in self.dataset.manifest["files"]]
            files += [str(self.root / p) for p in self.extra_files().values()]
            con.execute("SET allowed_paths = ?", [files])
        else:
            con.execute("SET allowed_directories = ?", [[str(self.root) + os.sep]])
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> SqlGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- checking -------------------------------------------------------------------------------------------

    def check(self, sql: str) -> str:
        """Return the one SELECT statement in ``sql`` or raise :class:`QueryRefused` saying why not."""
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as err:
            raise QueryRefused(f"the query does not parse: {_first_line(err)}") from None
        if not statements:
            raise QueryRefused("the query is empty: write one SELECT statement")
        if len(statements) > 1:
            kinds = ", ".join(_statement_kind(s) for s in statements)
            raise QueryRefused(f"only one statement is allowed; found {len(statements)} ({kinds})")
        stmt = statements[0]
        kind = _statement_kind(stmt)
        if kind != "SELECT":
            name = _STATEMENT_NAMES.get(kind, kind)
            raise QueryRefused(
                f"only a read-only SELECT (or WITH … SELECT) query is allowed; refused: {name}"
            )
        self._check_tree(stmt.query)
        return str(stmt.query).strip().rstrip(";").strip()

    def _check_tree(self, sql: str) -> None:
        cur = self._con.cursor()
        try:
            row = cur.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
        finally:
            cur.close()
        tree = json.loads(row[0]) if row else {}
        if tree.get("error"):
            return  # PIVOT and a few other SELECT forms cannot be serialised; the locked connection still holds
        for node in _walk(tree.get("statements", [])):
            ntype = node.get("type")
            if ntype == "TABLE_FUNCTION":
                fn = node.get("function") or {}
                name = str(fn.get("function_name", "")).lower()
                if name in DYNAMIC_SQL_FUNCTIONS:
                    raise QueryRefused(f"{name}() runs SQL from a string and is not allowed here")
                if name in FILE_FUNCTIONS:
                    args = fn.get("arguments") or []
                    paths = _literal_strings(args[0].get("expression", {})) if args else None
                    if not paths:
                        raise QueryRefused(f"{name}(): the file path must be a literal string")
                    for p in paths:
                        self._check_path(p, name)
            elif ntype == "BASE_TABLE":
                name = str(node.get("table_name", ""))
                if not node.get("schema_name") and _looks_like_path(name) and name not in self.views:
                    self._check_path(name, "FROM")

    def _check_path(self, path: str, func: str) -> None:
        if "://" in path or path.startswith(("s3:", "gs:", "gcs:", "az:", "azure:", "hf:", "r2:")):
            raise QueryRefused(f"{func}: remote paths are not allowed ({path!r}); query the dataset's tables")
        p = Path(path)
        if not p.is_absolute():
            raise QueryRefused(
                f"{func}: {path!r} is a relative path; only files inside the dataset ({self.root}) can be read, "
                "by absolute path — or simply query its tables"
            )
        real = os.path.realpath(p)
        if os.path.commonpath([real, str(self.root)]) != str(self.root) or ".." in p.parts:
            raise QueryRefused(
                f"{func}: {path!r} is outside the dataset folder; only the dataset's tables and files can be read"
            )

    # --- running --------------------------------------------------------------------------------------------

    def run(
        self,
        sql: str,
        *,
        row_cap: int = DEFAULT_ROW_CAP,
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    ) -> QueryResult:
        """Check and run ``sql``; return at most ``row_cap`` rows.

        Raises
        ------
        QueryRefused
            When the query is not allowed or fails (the message says why).
        QueryTimeout
            When it runs past ``time_limit_s`` (it is interrupted).
        """
        row_cap = max(1, min(int(row_cap), MAX_ROW_CAP))
        time_limit_s = max(0.05, min(float(time_limit_s), MAX_TIME_LIMIT_S))
        query = self.check(sql)
        cur = self._con.cursor()
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            cur.interrupt()

        timer = threading.Timer(time_limit_s, stop)
        timer.daemon = True
        t0 = time.perf_counter()
        timer.start()
        try:
            reader = cur.sql(query).to_arrow_reader(batch_size=min(row_cap + 1, 8192))
            batches: list[pa.RecordBatch] = []
            n = 0
            truncated = False
            for batch in reader:
                batches.append(batch)
                n += batch.num_rows
                if n > row_cap:
                    truncated = True
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema).slice(0, row_cap)
        except (duckdb.InterruptException, duckdb.Error, pa.ArrowException) as err:
            if timed_out.is_set():
                raise QueryTimeout(
                    f"the query ran past the {time_limit_s:g} s time limit and was stopped; "
                    "add filters or a LIMIT, or aggregate first"
                ) from None
            raise _explain_error(err) from None
        finally:
            timer.cancel()
            cur.close()
        if timed_out.is_set():
            raise QueryTimeout(f"the query ran past the {time_limit_s:g} s time limit and was stopped")
        return QueryResult(table, truncated, time.perf_counter() - t0, query)


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _explain_error(err: BaseException) -> QueryRefused:
    msg = _first_line(err)
    if isinstance(err, duckdb.PermissionException) or "disabled by configuration" in msg:
        return QueryRefused(
            "refused: the query tried to reach a file or setting outside the dataset "
            f"(only the dataset's tables can be read) — {msg}"
        )
    if isinstance(err, duckdb.OutOfMemoryException):
        return QueryRefused(f"the query needs more memory than the explorer allows — {msg}")
    return QueryRefused(msg)
