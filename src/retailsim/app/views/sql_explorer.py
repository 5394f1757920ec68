"""SQL explorer: read-only DuckDB over the dataset through :mod:`retailsim.app.sql_guard`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from retailsim.app import sql_guard, ui
from retailsim.app.data import Ctx

EXAMPLES: dict[str, str] = {
    "Revenue by month": """SELECT date_trunc('month', txn_ts)::DATE AS month,
       sum(total_amount) AS revenue,
       count(*) AS transactions,
       count(DISTINCT customer_id) AS customers
FROM transactions
GROUP BY 1
ORDER BY 1""",
    "Top 20 customers by spend": """SELECT customer_id, count(*) AS transactions, sum(total_amount) AS spend,
       min(txn_ts)::DATE AS first_purchase, max(txn_ts)::DATE AS last_purchase
FROM transactions
WHERE customer_id IS NOT NULL
GROUP BY 1
ORDER BY spend DESC
LIMIT 20""",
    "Revenue by category": """SELECT p.department, p.category, sum(l.line_amount) AS revenue, sum(l.quantity) AS units
FROM transaction_lines l
JOIN products p USING (product_id)
GROUP BY ALL
ORDER BY revenue DESC""",
    "Store formats compared": """SELECT s.format, count(*) AS transactions, avg(t.total_amount) AS basket_value,
       avg(t.n_items) AS items_per_basket
FROM transactions t
JOIN stores s USING (store_id)
GROUP BY 1
ORDER BY basket_value DESC""",
    "Weekday profile": """SELECT dayname(txn_ts) AS weekday, isodow(txn_ts) AS d, count(*) AS transactions
FROM transactions
GROUP BY ALL
ORDER BY d""",
    "Tables and columns": "SHOW ALL TABLES",
}
HISTORY_KEY = "sql_history"
TEXT_KEY = "sql_text"


@st.cache_resource(show_spinner=False, max_entries=8)
def guard(path: str, stamp: str) -> sql_guard.SqlGuard:
    """One locked explorer connection per dataset version, shared by sessions (each query gets its cursor)."""
    return sql_guard.SqlGuard(Path(path))


def _load_example() -> None:
    name = st.session_state.get("sql_example")
    if name in EXAMPLES:
        st.session_state[TEXT_KEY] = EXAMPLES[name]


def _load_history() -> None:
    pick = st.session_state.get("sql_hist_pick")
    if pick:
        st.session_state[TEXT_KEY] = pick


def _chart(df: pd.DataFrame) -> None:
    numeric = [
        c
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]
    if len(df.columns) < 2 or not numeric:
        st.caption("Chart: the result needs at least one numeric column and one other column.")
        return
    c = st.columns(3)
    x = c[0].selectbox("x", list(df.columns), key="sql_chart_x")
    y_opts = [n for n in numeric if n != x] or numeric
    y = c[1].selectbox("y", y_opts, key="sql_chart_y")
    kind = c[2].selectbox("Chart", ["bar", "line", "scatter"], key="sql_chart_kind")
    plot = df.head(5000)
    fig = {"bar": px.bar, "line": px.line, "scatter": px.scatter}[kind](plot, x=x, y=y)
    ui.chart(ui.style(fig, height=380), key="sql_chart")
    if len(df) > len(plot):
        st.caption(f"The chart shows the first {len(plot):,} rows.")


def render(ctx: Ctx) -> None:
    st.session_state.setdefault(TEXT_KEY, EXAMPLES["Revenue by month"])
    st.session_state.setdefault(HISTORY_KEY, [])
    views = sorted(guard(str(ctx.path), ctx.stamp).views)
    st.caption(
        "Read-only: one SELECT (or WITH … SELECT) statement over the dataset's tables — "
        + ", ".join(f"`{v}`" for v in views)
        + ". Files outside the dataset, settings, extensions and writes are refused."
    )
    top = st.columns([3, 1, 1])
    top[0].selectbox(
        "Examples", ["(choose an example)", *EXAMPLES], key="sql_example", on_change=_load_example
    )
    row_cap = top[1].number_input(
        "Row cap",
        min_value=1,
        max_value=sql_guard.MAX_ROW_CAP,
        value=sql_guard.DEFAULT_ROW_CAP,
        step=1000,
        key="sql_cap",
    )
    limit = top[2].number_input(
        "Time limit (s)",
        min_value=1.0,
        max_value=sql_guard.MAX_TIME_LIMIT_S,
        value=sql_guard.DEFAULT_TIME_LIMIT_S,
        step=1.0,
        key="sql_limit",
    )
    sql = st.text_area("SQL", key=TEXT_KEY, height=200)
    run = st.button("Run query", type="primary", key="sql_run")
    history: list[dict[str, object]] = st.session_state[HISTORY_KEY]
    if run:
        g = guard(str(ctx.path), ctx.stamp)
        entry: dict[str, object] = {"time": dt.datetime.now().strftime("%H:%M:%S"), "sql": sql}
        try:
            res = g.run(sql, row_cap=int(row_cap), time_limit_s=float(limit))
        except sql_guard.QueryRefused as err:
            st.session_state["sql_result"] = None
            st.session_state["sql_error"] = str(err)
            entry.update(
                status="refused" if not isinstance(err, sql_guard.QueryTimeout) else "time limit", rows=None
            )
        else:
            st.session_state["sql_result"] = res
            st.session_state["sql_error"] = None
            entry.update(status="ok", rows=res.table.num_rows, seconds=round(res.elapsed_s, 3))
        history.insert(0, entry)
        del history[20:]

    err = st.session_state.get("sql_error")
    res = st.session_state.get("sql_result")
    if err:
        st.error(f"Query not run: {err}")
    elif isinstance(res, sql_guard.QueryResult):
        df = res.df
        more = f" — capped at {res.table.num_rows:,} rows; more exist" if res.truncated else ""
        st.success(f"{res.table.num_rows:,} rows in {res.elapsed_s:.3f} s{more}")
        st.dataframe(df, hide_index=True)
        ui.download_csv("Download CSV", df, "query.csv", "sql_dl")
        with st.expander("Chart of the result", expanded=True):
            ui.section(lambda: _chart(df), "Chart")

    if history:
        with st.expander(f"Query history ({len(history)})"):
            st.dataframe(pd.DataFrame(history), hide_index=True)
            st.selectbox(
                "Load a previous query",
                ["", *dict.fromkeys(str(h["sql"]) for h in history)],
                key="sql_hist_pick",
                on_change=_load_history,
                format_func=lambda s: s.replace("\n", " ")[:100] or "(choose)",
            )


if __name__ == "__main__":
    ui.run_page("SQL explorer", render, caption="Ask the dataset anything in DuckDB SQL — safely.")
