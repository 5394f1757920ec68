"""Data quality: the latest validation report, the rule list, failures by rule, the quarantine, and checking
new records (an uploaded CSV or a typed record) against a table's contract and the dataset's keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import quality_bridge, ui, uploads
from retailsim.app.data import Ctx

SEVERITY_COLOUR = {"error": "#E15759", "warning": "#F28E2B"}


@st.cache_data(show_spinner=False, max_entries=8)
def run_now(path: str, stamp: str) -> dict[str, Any]:
    """Validation run in memory for this version of the dataset (cached; nothing is written)."""
    return quality_bridge.run_report(Path(path))


@st.cache_data(show_spinner=False, max_entries=8)
def stored(path: str, stamp: str) -> tuple[dict[str, Any] | None, str | None]:
    reports = quality_bridge.stored_reports(Path(path))
    if not reports:
        return None, None
    return quality_bridge.latest_report(Path(path)), str(reports[0])


@st.cache_data(show_spinner=False, max_entries=8)
def rule_catalogue(path: str, stamp: str) -> pd.DataFrame:
    """Every rule of the registry for this dataset (before any run)."""
    from retailsim.quality.rules import registry
    from retailsim.storage.dataset import Dataset

    rows = [r.to_dict() for r in registry(Dataset(path))]
    return pd.DataFrame(rows)[["id", "table", "severity", "category", "description", "columns", "source"]]


def flatten_sample(sample: Any) -> dict[str, Any]:
    """A report sample (``row_key, file, row, detail, values{...}``) as one flat row."""
    if not isinstance(sample, dict):
        return {"value": sample}
    flat = {k: v for k, v in sample.items() if k != "values"}
    values = sample.get("values")
    if isinstance(values, dict):
        flat |= {k: v for k, v in values.items() if k not in flat}
    return flat


def _report(ctx: Ctx) -> tuple[dict[str, Any] | None, str]:
    rep, where = stored(str(ctx.path), ctx.stamp)
    ran = st.session_state.get("dq_ran") == ctx.stamp
    c = st.columns([1, 3])
    if c[0].button(
        "Run the validation now", key="dq_run", help="Runs every rule over the dataset in memory."
    ):
        st.session_state["dq_ran"] = ctx.stamp
        ran = True
    if ran:
        with st.spinner("Validating …"):
            return run_now(str(ctx.path), ctx.stamp), "run in the dashboard just now (nothing written)"
    if rep is not None:
        c[1].caption(f"Report: `{where}` — run again to see the current state.")
        return rep, f"stored report {where}"
    return None, ""


def _summary(rep: dict[str, Any]) -> None:
    s = rep.get("summary", {})
    status = rep.get("status", "?")
    m = st.columns(6)
    m[0].metric("Status", {"passed": "Clean", "warnings": "Warnings", "failed": "Errors"}.get(status, status))
    m[1].metric("Rules evaluated", ui.number(s.get("evaluated")))
    m[2].metric("Errors", ui.number(s.get("errors")))
    m[3].metric("Warnings", ui.number(s.get("warnings")))
    m[4].metric(
        "Skipped", ui.number(s.get("skipped")), help="Rules whose columns or tables this dataset lacks."
    )
    m[5].metric("Failing rows", ui.number(s.get("failing_rows")))
    st.caption(
        f"Checked {ui.date(rep.get('started_at'))} in {rep.get('elapsed_s', 0):.1f} s; dates after "
        f"{ui.date(rep.get('as_of'))} count as future."
    )
    tables = pd.DataFrame([{"table": k, **v} for k, v in (rep.get("tables") or {}).items()])
    if not tables.empty:
        tables["share failing"] = tables["failing_rows"] / tables["rows"].where(tables["rows"] > 0)
        st.dataframe(
            tables[["table", "rows", "failing_rows", "share failing"]],
            hide_index=True,
            column_config={"share failing": st.column_config.NumberColumn(format="percent")},
        )


def _failures(rep: dict[str, Any], key: tuple[Any, ...]) -> None:
    rules = pd.DataFrame(rep.get("rules") or [])
    failed = rules[rules["status"] == "failed"] if not rules.empty else rules
    if failed.empty:
        st.success("No rule failed.")
        return

    def build() -> go.Figure:
        f = failed.sort_values("failed")
        fig = go.Figure(
            go.Bar(
                x=f["failed"],
                y=f["id"],
                orientation="h",
                marker_color=[SEVERITY_COLOUR.get(s, "#999999") for s in f["severity"]],
                customdata=f["description"],
                hovertemplate="%{y}: %{x:,} rows<br>%{customdata}<extra></extra>",
            )
        )
        fig.update_layout(title="Failing rows by rule (red: error, orange: warning)")
        return ui.style(fig, height=max(260, 26 * len(f) + 100))

    ui.cached_chart(key, build, key="dq_fail")
    pick = st.selectbox("Failed rule", failed["id"].tolist(), key="dq_rule")
    r = failed[failed["id"] == pick].iloc[0]
    st.markdown(f"**{r['id']}** ({r['severity']}, {r['category']}): {r['description']}")
    st.code(str(r["sql"]), language="sql")
    samples = r.get("samples")
    if isinstance(samples, list) and samples:
        st.caption(f"Sample failing rows ({len(samples)} of {int(r['failed']):,}):")
        st.dataframe(pd.DataFrame([flatten_sample(x) for x in samples]), hide_index=True)


def _rules_tab(ctx: Ctx, rep: dict[str, Any] | None) -> None:
    if rep is not None:
        df = pd.DataFrame(rep.get("rules") or [])
        cols = ["id", "table", "severity", "category", "status", "failed", "description", "skip_reason"]
        df = df[[c for c in cols if c in df.columns]]
    else:
        df = rule_catalogue(str(ctx.path), ctx.stamp)
    c = st.columns(3)
    tables = sorted(df["table"].unique())
    pick_t = c[0].multiselect("Table", tables, key="dq_rules_t", placeholder="All tables")
    pick_s = c[1].multiselect("Severity", ["error", "warning"], key="dq_rules_s", placeholder="Both")
    if "status" in df.columns:
        pick_st = c[2].multiselect(
            "Status", ["passed", "failed", "skipped"], key="dq_rules_st", placeholder="All"
        )
        if pick_st:
            df = df[df["status"].isin(pick_st)]
    if pick_t:
        df = df[df["table"].isin(pick_t)]
    if pick_s:
        df = df[df["severity"].isin(pick_s)]
    st.dataframe(
        df, hide_index=True, column_config={"description": st.column_config.TextColumn(width="large")}
    )
    st.caption(
        f"{len(df):,} rules. Contract rules come from the schema, relational rules from `retailsim.quality.rules`; "
        "add your own with `retailsim validate DATASET --rules my_rules.yaml`."
    )


def _quarantine_tab(ctx: Ctx) -> None:
    files = quality_bridge.quarantine_files(ctx.path)
    if not files:
        ui.missing(
            "A quarantine",
            f"retailsim validate {ctx.path} --quarantine",
            why="the clean dataset written by --quarantine holds quarantine/<table>.parquet; open that dataset here",
        )
        return
    table = st.selectbox("Quarantined table", list(files), key="dq_q_table")
    view = f"quarantine_{table}"
    n = int(ctx.scalar(f'SELECT count(*) FROM "{view}"'))
    cols = ctx.q(f'DESCRIBE "{view}"')["column_name"].tolist()
    rule_col = next((c for c in ("rule_ids", "rule_id", "rules") if c in cols), None)
    where, params = "", []
    if rule_col:
        rid = st.text_input("Only rows failing rule (id contains)", key="dq_q_rule")
        if rid:
            where = f'WHERE contains(lower("{rule_col}"::VARCHAR), lower(?))'
            params = [rid]
    df = ctx.q(f'SELECT * FROM "{view}" {where} LIMIT 1000', params)
    st.caption(f"{n:,} quarantined rows in {table}; showing {len(df):,}.")
    st.dataframe(df, hide_index=True)
    ui.download_csv("Download these rows (CSV)", df, f"quarantine_{table}.csv", "dq_q_dl")


def render(ctx: Ctx) -> None:
    tabs = st.tabs(["Report", "Rules", "Quarantine", "Check new records"])
    with tabs[0]:
        rep, source = _report(ctx)
        if rep is None:
            ui.missing(
                "A validation report",
                f"retailsim validate {ctx.path} --json {ctx.path}/quality/report.json",
                why="or press “Run the validation now”",
            )
        else:
            st.caption(f"Source: {source}.")
            ui.section(lambda: _summary(rep), "Report summary")
            ui.section(
                lambda: _failures(rep, (str(ctx.path), ctx.stamp, source, rep.get("started_at"))), "Failures"
            )
    with tabs[1]:
        ui.section(lambda: _rules_tab(ctx, rep), "Rule list")
    with tabs[2]:
        ui.section(lambda: _quarantine_tab(ctx), "Quarantine")
    with tabs[3]:
        ui.section(lambda: uploads.check_panel(ctx), "Check new records")


if __name__ == "__main__":
    ui.run_page(
        "Data quality", render, caption="Rules from the one schema, run over the data — and over new data."
    )
