"""Schema & data: every table of the single schema (columns, types, keys, descriptions), an ER diagram of the
foreign keys, row counts and filtered previews."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from retailsim import schema
from retailsim.app import ui
from retailsim.app.data import Ctx

OPERATORS = ("=", "≠", "<", "≤", ">", "≥", "contains", "is null", "is not null")
_SQL_OP = {"=": "=", "≠": "<>", "<": "<", "≤": "<=", ">": ">", "≥": ">="}


def _pk(name: str, spec: schema.TableSpec) -> str:
    return f"<B><U>{name}</U></B>" if name in spec.primary_key else name


def er_diagram(present: set[str]) -> str:
    """Graphviz DOT of the tables and their foreign keys (tables absent from the dataset drawn dashed)."""
    lines = [
        "digraph schema {",
        '  graph [rankdir=LR, bgcolor="transparent", fontname="Helvetica"];',
        '  node [shape=plaintext, fontname="Helvetica", fontsize=10];',
        '  edge [color="#555555", arrowhead=crow, arrowtail=none, fontsize=9, fontname="Helvetica"];',
    ]
    for spec in schema.TABLES.values():
        style = "" if spec.name in present else ' style="dashed"'
        colour = "#FFF4E0" if spec.truth else ("#EAF6EA" if getattr(spec, "derived", None) else "#E8EEF9")
        rows = "".join(
            f'<TR><TD ALIGN="LEFT" PORT="{c.name}">{_pk(c.name, spec)}</TD>'
            f'<TD ALIGN="LEFT"><FONT COLOR="#777777">{schema.to_duckdb_type(c.type).lower()}</FONT></TD></TR>'
            for c in spec.columns
        )
        title = f"{folder(spec)}{spec.name}"
        lines.append(
            f'  "{spec.name}" [label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3"{style}>'
            f'<TR><TD COLSPAN="2" BGCOLOR="{colour}"><B>{title}</B></TD></TR>{rows}</TABLE>>];'
        )
    for spec in schema.TABLES.values():
        for fk in spec.foreign_keys:
            lines.append(
                f'  "{fk.ref_table}":"{fk.ref_columns[0]}" -> "{spec.name}":"{fk.columns[0]}" '
                f'[label="{", ".join(fk.columns)}"];'
            )
    lines.append("}")
    return "\n".join(lines)


def folder(spec: schema.TableSpec) -> str:
    """Where a table lives in the dataset folder, as a prefix: ``truth/``, ``loyalty/`` or nothing."""
    return "truth/" if spec.truth else (f"{spec.derived}/" if getattr(spec, "derived", None) else "")


def table_rows(ctx: Ctx, name: str) -> int | None:
    """Rows of a table: from the manifest, or counted for a derived table; None when absent."""
    if ctx.ds.has(name):
        return ctx.ds.rows(name)
    if ctx.view_exists(name):
        return int(ctx.scalar(f'SELECT count(*) FROM "{name}"'))
    return None


def columns_frame(spec: schema.TableSpec, absent: set[str]) -> pd.DataFrame:
    rows = []
    for c in spec.columns:
        key = "PK" if c.name in spec.primary_key else ""
        for fk in spec.foreign_keys:
            if c.name in fk.columns:
                key = (
                    key + " " if key else ""
                ) + f"FK → {fk.ref_table}.{fk.ref_columns[fk.columns.index(c.name)]}"
        rows.append(
            {
                "column": c.name,
                "type": schema.to_duckdb_type(c.type),
                "nullable": c.nullable,
                "key": key,
                "constraints": schema.constraint_text(c),
                "unit": c.unit or "",
                "description": c.description
                + (" (absent in this dataset: all null)" if c.name in absent else ""),
            }
        )
    return pd.DataFrame(rows)


def preview_sql(
    spec: schema.TableSpec, column: str | None, op: str, value: str, limit: int
) -> tuple[str, list[Any]]:
    """A filtered preview; identifiers come from the schema only and the value is always a parameter."""
    where, params = "", []
    if column is not None:
        if column not in spec.column_index:
            raise ValueError(f"unknown column {column!r} of {spec.name}")
        col = f'"{column}"'
        typ = schema.to_duckdb_type(spec.column(column).type)
        if op == "is null":
            where = f"WHERE {col} IS NULL"
        elif op == "is not null":
            where = f"WHERE {col} IS NOT NULL"
        elif op == "contains":
            where = f"WHERE contains(lower({col}::VARCHAR), lower(?))"
            params = [value]
        elif op in _SQL_OP:
            where = f"WHERE {col} {_SQL_OP[op]} TRY_CAST(? AS {typ})"
            params = [value]
        else:
            raise ValueError(f"unknown operator {op!r}")
    return f'SELECT * FROM "{spec.name}" {where} LIMIT {int(limit)}', params


def render(ctx: Ctx) -> None:
    ds = ctx.ds
    specs = list(schema.TABLES.values())
    rows = {s.name: table_rows(ctx, s.name) for s in specs}
    present = {t for t, n in rows.items() if n}

    counts = pd.DataFrame(
        [
            {
                "table": folder(s) + s.name,
                "rows": rows[s.name],
                "status": "present" if s.name in present else ("empty" if rows[s.name] == 0 else "absent"),
                "primary key": ", ".join(s.primary_key),
                "description": s.description,
            }
            for s in specs
        ]
    )
    st.subheader("Tables")
    counts["rows"] = pd.array(counts["rows"], dtype="Int64")
    st.dataframe(
        counts,
        hide_index=True,
        column_config={"rows": st.column_config.NumberColumn("rows", format="localized")},
    )
    st.caption(
        f"{ctx.name}: a {ds.kind} dataset stored as {ds.format}. The schema is defined once in "
        "`retailsim/schema.py`; `retailsim schema` prints the same."
    )

    def diagram() -> None:
        with st.expander("Entity–relationship diagram (foreign keys)", expanded=True):
            st.graphviz_chart(er_diagram(present))
            st.caption(
                "Arrows run from the referenced key to the referencing column; dashed tables are absent."
            )

    ui.section(diagram, "ER diagram")

    st.subheader("Columns and preview")
    names = [s.name for s in specs]
    default = names.index("transactions") if "transactions" in names else 0
    table = st.selectbox(
        "Table",
        names,
        index=default,
        key="sd_table",
        format_func=lambda t: f"{t} ({rows[t]:,} rows)" if rows[t] is not None else f"{t} (absent)",
    )
    spec = schema.table(table)
    st.markdown(f"**{spec.name}** — {spec.description}")
    keys = f"Primary key: `{', '.join(spec.primary_key)}`"
    for fk in spec.foreign_keys:
        keys += f" · `{', '.join(fk.columns)}` → `{fk.ref_table}.{', '.join(fk.ref_columns)}`"
    st.caption(keys)
    absent = ds.absent_columns(table) if ds.has(table) else set()
    st.dataframe(columns_frame(spec, absent), hide_index=True)

    if table not in present:
        st.info(f"The table {table!r} is not in this dataset, so there is nothing to preview.")
        return
    c = st.columns([2, 1, 2, 1])
    col = c[0].selectbox("Filter column", ["(no filter)", *spec.column_names], key="sd_col")
    op = c[1].selectbox("Operator", OPERATORS, key="sd_op", disabled=col == "(no filter)")
    value = c[2].text_input(
        "Value", key="sd_val", disabled=col == "(no filter)" or op in ("is null", "is not null")
    )
    limit = c[3].number_input("Rows", min_value=1, max_value=1000, value=50, step=10, key="sd_limit")
    column = None if col == "(no filter)" else col
    if column is not None and op not in ("is null", "is not null") and not value:
        st.caption("Type a value to filter on.")
        column = None
    sql, params = preview_sql(spec, column, op, value, int(limit))
    df = ctx.q(sql, params)
    st.dataframe(df, hide_index=True)
    st.caption(f"{len(df):,} rows shown (at most {int(limit):,}).")


if __name__ == "__main__":
    ui.run_page(
        "Schema & data", render, caption="Every table, column and key of the one schema, with the data."
    )
