"""The per-table contracts as pandera schemas, generated from :mod:`retailsim.schema` like the SQL rules.

``retailsim validate`` runs its contracts as DuckDB SQL (see ``docs/quality.md`` for why: one pass per
table, spilling to disk, the same predicates for reports, quarantine and user rules). These pandera schemas
express the *same* contracts — required columns, allowed values, ranges (schema or quality config), patterns,
unique keys — for teams that validate DataFrames with pandera, for the side-by-side benchmark
(``benchmarks/bench_quality.py``), and for a test that both engines reject the same rows.

Needs the ``quality`` extra (``pandera[polars]``).
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

from retailsim import schema
from retailsim.quality.config import QualityConfig

Backend = Literal["pandas", "polars"]


def _checks(mod: Any, table: str, c: schema.Column, config: QualityConfig) -> list[Any]:
    checks = []
    if c.allowed:
        checks.append(mod.Check.isin(list(c.allowed)))
    if pa.types.is_integer(c.type) or pa.types.is_floating(c.type):
        bound, _ = config.bound(table, c.name)
        if bound is not None and bound.min is not None:
            checks.append(mod.Check.gt(bound.min) if bound.min_exclusive else mod.Check.ge(bound.min))
        if bound is not None and bound.max is not None:
            checks.append(mod.Check.le(bound.max))
    if c.pattern:
        checks.append(mod.Check.str_matches(c.pattern))
    return checks


def _polars_dtype(t: pa.DataType) -> Any:
    import polars as pl

    return {
        pa.int32(): pl.Int32,
        pa.int64(): pl.Int64,
        pa.float64(): pl.Float64,
        pa.string(): pl.Utf8,
        pa.bool_(): pl.Boolean,
        pa.date32(): pl.Date,
        pa.timestamp("ms"): pl.Datetime("ms"),
    }[t]


def pandera_schema(table: str, config: QualityConfig | None = None, backend: Backend = "pandas") -> Any:
    """A pandera ``DataFrameSchema`` of ``table``'s contract.

    Parameters
    ----------
    table
        A data table name.
    config
        Limits overriding the schema's ranges (as for the SQL contracts).
    backend
        ``pandas`` (``pandera.pandas``; dtypes are not pinned, as pandas widens nullable integers) or
        ``polars`` (``pandera.polars``; dtypes pinned).
    """
    config = config or QualityConfig()
    spec = schema.table(table)
    if backend == "polars":
        import pandera.polars as mod

        columns = {
            c.name: mod.Column(_polars_dtype(c.type), _checks(mod, table, c, config), nullable=c.nullable)
            for c in spec.columns
        }
    else:
        import pandera.pandas as mod

        columns = {
            c.name: mod.Column(None, _checks(mod, table, c, config), nullable=c.nullable)
            for c in spec.columns
        }
    unique = [c.name for c in spec.columns if c.unique and (c.name,) != spec.primary_key]
    schema_ = mod.DataFrameSchema(columns, unique=list(spec.primary_key) or None, name=table, strict=False)
    if unique:
        # a second unique key (products.sku) is a column-level uniqueness in pandera
        for u in unique:
            columns[u] = mod.Column(
                columns[u].dtype, columns[u].checks, nullable=columns[u].nullable, unique=True
            )
        schema_ = mod.DataFrameSchema(
            columns, unique=list(spec.primary_key) or None, name=table, strict=False
        )
    return schema_


def failing_rows(
    table: str, frame: Any, config: QualityConfig | None = None, backend: Backend = "pandas"
) -> set[int]:
    """Row positions pandera rejects (lazy validation: every failure case), for comparisons with the SQL."""
    s = pandera_schema(table, config, backend)
    try:
        s.validate(frame, lazy=True)
    except Exception as err:  # pandera raises SchemaErrors with the failure cases
        cases = getattr(err, "failure_cases", None)
        if cases is None:
            raise
        if backend == "polars":
            import polars as pl

            idx = cases.filter(pl.col("index").is_not_null())["index"].to_list()
        else:
            idx = cases["index"].dropna().tolist()
        return {int(i) for i in idx}
    return set()
