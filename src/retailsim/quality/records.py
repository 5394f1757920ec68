"""Check uploaded rows against one table's contract and the dataset's keys (for the dashboard and the API).

>>> from retailsim.quality import check_records
>>> accepted, rejected = check_records("data/demo", "customers", uploaded_df)   # doctest: +SKIP

Every cell is parsed as the schema type (a text upload such as a CSV works), then every rule of that table
runs that can judge single rows: the schema contract, foreign keys and time order against the dataset's
tables, and the primary key, which must be new (not in the dataset) and not repeat within the upload. Rules
that need a whole basket (header totals against lines, duplicate transactions) are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from retailsim import schema
from retailsim.errors import InputDataError
from retailsim.quality.config import QualityConfig
from retailsim.quality.engine import Session, skip_reason
from retailsim.quality.rules import Rule, parse_rule, q, registry
from retailsim.quality.sources import Source, parse_select, read_csv_text
from retailsim.storage.dataset import Dataset

SET_LOOKUPS = {"lines", "dupcontent"}


class CheckResult(NamedTuple):
    """Rows that pass every error rule (typed by the schema) and rows that fail one, with reasons.

    ``rejected`` has the table's columns (NULL where a cell did not parse) plus ``_row`` (1-based position in
    the upload), ``_rule_ids`` and ``_reason``. Both are Arrow tables, or pandas DataFrames when the upload
    was one.
    """

    accepted: Any
    rejected: Any


def _to_arrow(data: Any, table: str) -> tuple[pa.Table, str]:
    if isinstance(data, pa.Table):
        return data, "arrow"
    if isinstance(data, str | Path):
        p = Path(data)
        return read_csv_text(p, None, str(p)), "arrow"
    mod = type(data).__module__
    if mod.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False), "pandas"
    if mod.startswith("polars"):
        return data.to_arrow(), "polars"
    raise InputDataError(
        f"cannot check {type(data).__name__}; give a pyarrow Table, a DataFrame or a CSV path"
    )


def check_records(
    dataset: Dataset | str | Path,
    table: str,
    data: Any,
    *,
    config: QualityConfig | None = None,
    user_rules: list[Rule] | str | Path | None = None,
) -> CheckResult:
    """Split uploaded rows of ``table`` into accepted and rejected (with rule ids and a readable reason).

    Parameters
    ----------
    dataset
        The dataset the rows would join (its parents resolve foreign keys; its keys must not be reused).
    table
        A data table name (``customers``, ``transactions``, …).
    data
        A pyarrow Table, a pandas or polars DataFrame, or the path of a CSV file. Columns are matched by
        name; nullable columns may be left out.
    config, user_rules
        As for :func:`~retailsim.quality.engine.run_validation`.

    Returns
    -------
    CheckResult
        ``(accepted, rejected)``.

    Raises
    ------
    InputDataError
        An unknown column, a missing required column, or an unsupported input type.
    """
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    spec = schema.table(table)
    if spec.truth or table not in {t.name for t in schema.DATA_TABLES}:
        raise InputDataError(
            f"{table!r} is not a data table; known: {', '.join(t.name for t in schema.DATA_TABLES)}"
        )
    config = config or QualityConfig()
    tbl, kind = _to_arrow(data, table)
    unknown = [c for c in tbl.column_names if c not in spec.column_index]
    if unknown:
        raise InputDataError(
            f"unknown column for {table}: {unknown[0]!r}; expected some of {', '.join(spec.column_names)}",
            column=unknown[0],
        )
    missing = [c.name for c in spec.columns if c.name not in tbl.column_names and not c.nullable]
    if missing:
        raise InputDataError(f"required column {missing[0]!r} is missing for {table}", column=missing[0])
    for c in spec.columns:
        if c.name not in tbl.column_names:
            tbl = tbl.append_column(c.name, pa.nulls(tbl.num_rows, c.type))
    tbl = tbl.select(spec.column_names)
    n = tbl.num_rows
    session = Session(ds, config)
    try:
        session.sources.open([t.name for t in schema.DATA_TABLES if ds.has(t.name)])
        con = session.con
        numbered = tbl.append_column("__row", pa.array(np.arange(n, dtype=np.int64)))
        con.register("__upload_arrow", numbered)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __src_upload AS SELECT {parse_select(spec, '__file, __row')} FROM "
            f"(SELECT *, 'upload' AS __file FROM __upload_arrow)"
        )
        con.unregister("__upload_arrow")
        existing = session.sources.by_table.get(table)
        session.sources.by_table[table] = Source(table, "__src_upload", ["upload"], rows=n, kind="records")
        rules = [parse_rule(spec)] + [
            r
            for r in registry(ds, config, user_rules)
            if r.table == table and r.category != "parse" and not SET_LOOKUPS & set(r.lookups)
        ]
        for alias, cols in [("pk", spec.primary_key)] + [
            (f"dup_{c.name}", (c.name,)) for c in spec.columns if c.unique and (c.name,) != spec.primary_key
        ]:
            _new_keys(session, table, alias, cols, existing)
        active = [r for r in rules if skip_reason(r, ds, session) is None]
        session.check_table(table, active)
        ids, reason = session.reason_sql(active, lambda r: r.severity == "error")
        cols = ", ".join(q(c) for c in spec.column_names)
        rejected = con.sql(
            f"SELECT {cols}, __row + 1 AS _row, {ids} AS _rule_ids, {reason} AS _reason FROM __fail_{table} "
            f"WHERE len({ids}) > 0 ORDER BY __row"
        ).to_arrow_table()
        bad = rejected.column("_row").to_pylist()
        con.register("__bad", pa.table({"r": pa.array([b - 1 for b in bad], pa.int64())}))
        accepted = con.sql(
            f"SELECT {cols} FROM __src_upload WHERE __row NOT IN (SELECT r FROM __bad) ORDER BY __row"
        ).to_arrow_table()
        con.unregister("__bad")
    finally:
        session.close()
    accepted = accepted.cast(pa.schema([pa.field(c.name, c.type, nullable=True) for c in spec.columns]))
    if kind == "pandas":
        return CheckResult(accepted.to_pandas(), rejected.to_pandas())
    if kind == "polars":
        import polars as pl

        return CheckResult(pl.from_arrow(accepted), pl.from_arrow(rejected))
    return CheckResult(accepted, rejected)


def _new_keys(
    session: Session, table: str, alias: str, cols: tuple[str, ...], existing: Source | None
) -> None:
    """Key set of the upload: keys repeated within it or already in the dataset."""
    keys = ", ".join(f"{q(c)} AS __k{i + 1}" for i, c in enumerate(cols))
    not_null = " AND ".join(f"{q(c)} IS NOT NULL" for c in cols)
    knames = ", ".join(f"__k{i + 1}" for i in range(len(cols)))
    union = f"SELECT {keys}, 'upload' AS __where FROM __src_upload WHERE {not_null}"
    if existing is not None:
        union += f" UNION ALL SELECT DISTINCT {keys}, 'dataset' FROM {existing.relation} WHERE {not_null}"
    session.con.execute(
        f"CREATE OR REPLACE TEMP TABLE __dup_{table}_{alias} AS SELECT {knames}, count(*) AS {alias}__copies, "
        f"list(DISTINCT __where ORDER BY __where) AS {alias}__files FROM ({union}) GROUP BY ALL HAVING count(*) > 1"
    )
    session.created.add(f"__dup_{table}_{alias}")
    session.dups[(table, alias)] = 1
