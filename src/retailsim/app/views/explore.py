"""Explore (EDA): distributions of spend, frequency and basket size; Lorenz curve; weekday and month profiles;
cohort retention; the dataset's stylised facts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import ui
from retailsim.app.data import Ctx

FREQ_CAP = 30
BASKET_CAP = 40
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def spend_histogram(ctx: Ctx, bins: int = 40) -> pd.DataFrame:
    """Customers by total spend, on log-spaced bins (spend per customer is heavy-tailed)."""
    return ctx.q(
        f"""
        WITH c AS (SELECT customer_id, sum(total_amount) AS spend FROM transactions
                   WHERE customer_id IS NOT NULL GROUP BY 1 HAVING sum(total_amount) > 0),
             b AS (SELECT ln(min(spend)) AS lo, ln(max(spend)) AS hi FROM c)
        SELECT least(floor((ln(spend) - lo) / greatest(hi - lo, 1e-9) * {bins}), {bins - 1})::INT AS bin,
               exp(lo + (hi - lo) * least(floor((ln(spend) - lo) / greatest(hi - lo, 1e-9) * {bins}), {bins - 1})
                   / {bins}) AS bin_lo,
               exp(lo + (hi - lo) * (least(floor((ln(spend) - lo) / greatest(hi - lo, 1e-9) * {bins}), {bins - 1})
                   + 1) / {bins}) AS bin_hi,
               count(*) AS customers, sum(spend) AS spend
        FROM c, b GROUP BY ALL ORDER BY bin"""
    )


def frequency(ctx: Ctx) -> pd.DataFrame:
    return ctx.q(
        f"""
        SELECT least(n, {FREQ_CAP}) AS purchases, count(*) AS customers FROM (
          SELECT count(*) AS n FROM transactions WHERE customer_id IS NOT NULL GROUP BY customer_id)
        GROUP BY 1 ORDER BY 1"""
    )


def basket_sizes(ctx: Ctx) -> pd.DataFrame:
    return ctx.q(
        f"""
        SELECT least(n_items, {BASKET_CAP}) AS items, count(*) AS transactions, avg(total_amount) AS mean_value
        FROM transactions WHERE n_items IS NOT NULL GROUP BY 1 ORDER BY 1"""
    )


def lorenz(ctx: Ctx, points: int = 200) -> tuple[pd.DataFrame, float | None]:
    """Cumulative share of revenue by cumulative share of customers (poorest first), and the Gini index."""
    df = ctx.q(
        f"""
        WITH c AS (SELECT sum(total_amount) AS spend FROM transactions WHERE customer_id IS NOT NULL
                   GROUP BY customer_id),
             r AS (SELECT spend, row_number() OVER (ORDER BY spend) AS k, count(*) OVER () AS n,
                          sum(spend) OVER (ORDER BY spend ROWS UNBOUNDED PRECEDING) AS cum,
                          sum(spend) OVER () AS total FROM c)
        SELECT k::DOUBLE / n AS customers, cum / nullif(total, 0) AS revenue FROM r
        WHERE k = n OR k % greatest(n // {points}, 1) = 0 ORDER BY k"""
    )
    if df.empty:
        return df, None
    curve = pd.concat([pd.DataFrame({"customers": [0.0], "revenue": [0.0]}), df], ignore_index=True)
    x, y = curve["customers"].to_numpy(float), curve["revenue"].fillna(0).to_numpy(float)
    gini = float(1 - np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1])))
    return curve, gini


def weekday_profile(ctx: Ctx) -> pd.DataFrame:
    return ctx.q(
        """SELECT isodow(txn_ts) AS dow, count(*) AS transactions, sum(total_amount) AS revenue
           FROM transactions GROUP BY 1 ORDER BY 1"""
    )


def month_profile(ctx: Ctx) -> pd.DataFrame:
    return ctx.q(
        """SELECT date_trunc('month', txn_ts)::DATE AS month, count(*) AS transactions,
                  sum(total_amount) AS revenue, count(DISTINCT customer_id) AS customers
           FROM transactions GROUP BY 1 ORDER BY 1"""
    )


def cohorts(ctx: Ctx, max_months: int = 24) -> pd.DataFrame:
    """Share of each monthly cohort (month of first purchase) that buys again k months later."""
    df = ctx.q(
        f"""
        WITH a AS (SELECT DISTINCT customer_id, date_trunc('month', txn_ts)::DATE AS m FROM transactions
                   WHERE customer_id IS NOT NULL),
             f AS (SELECT customer_id, min(m) AS cohort FROM a GROUP BY 1)
        SELECT cohort, datediff('month', cohort, m) AS k, count(*) AS active
        FROM a JOIN f USING (customer_id) WHERE datediff('month', cohort, m) <= {max_months}
        GROUP BY ALL ORDER BY 1, 2"""
    )
    if df.empty:
        return df
    size = df[df["k"] == 0].set_index("cohort")["active"]
    df["retention"] = df["active"] / df["cohort"].map(size)
    return df


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_facts(path: str, stamp: str) -> list[dict[str, Any]]:
    """The dataset's scalar stylised facts (``retailsim facts``): group, label, value, definition."""
    from retailsim.fidelity import facts as fm
    from retailsim.storage.dataset import Dataset

    ds = Dataset(path)
    values = fm.compute_facts(ds).values
    rows = []
    for f in fm.FACTS:
        v = values.get(f.id)
        if isinstance(v, dict):
            continue  # distributions are charted on the other tabs
        text = "not available" if v is None else fm.format_value(f, v)
        rows.append({"group": f.group, "fact": f.label, "value": text, "definition": f.definition})
    return rows


def fig_spend(ctx: Ctx) -> go.Figure | None:
    h = spend_histogram(ctx)
    if h.empty:
        return None
    cur = ctx.currency
    labels = [f"{ui.money(a, cur)} – {ui.money(b, cur)}" for a, b in zip(h.bin_lo, h.bin_hi, strict=True)]
    fig = go.Figure(
        go.Bar(
            x=np.sqrt(h.bin_lo * h.bin_hi),
            y=h.customers,
            width=(h.bin_hi - h.bin_lo) * 0.95,
            customdata=labels,
            hovertemplate="%{customdata}<br>%{y:,} customers<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", title="total spend per customer (log scale)", tickprefix=cur)
    fig.update_yaxes(title="customers")
    fig.update_layout(title="Spend per customer")
    return ui.style(fig)


def fig_frequency(ctx: Ctx) -> go.Figure | None:
    fr = frequency(ctx)
    if fr.empty:
        return None
    labels = [f"{n}+" if n == FREQ_CAP else str(n) for n in fr["purchases"]]
    fig = go.Figure(
        go.Bar(x=labels, y=fr["customers"], hovertemplate="%{x} purchases: %{y:,} customers<extra></extra>")
    )
    fig.update_layout(
        title="Purchases per customer", xaxis_title="transactions in the data", yaxis_title="customers"
    )
    return ui.style(fig)


def fig_basket(ctx: Ctx) -> go.Figure | None:
    b = basket_sizes(ctx)
    if b.empty:
        return None
    cur = ctx.currency
    labels = [f"{n}+" if n == BASKET_CAP else str(n) for n in b["items"]]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=b["transactions"],
            customdata=b["mean_value"],
            hovertemplate="%{x} items: %{y:,} transactions, mean value "
            + cur
            + "%{customdata:,.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Basket size (items per transaction)", xaxis_title="items", yaxis_title="transactions"
    )
    return ui.style(fig)


def fig_lorenz(curve: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=curve.customers,
            y=curve.revenue,
            name="Lorenz curve",
            mode="lines",
            hovertemplate="%{x:.0%} of customers → %{y:.1%} of revenue<extra></extra>",
        )
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="equality", mode="lines", line={"dash": "dot"}))
    fig.update_xaxes(title="share of customers (lowest spend first)", tickformat=".0%")
    fig.update_yaxes(title="share of revenue", tickformat=".0%")
    fig.update_layout(title="Lorenz curve of customer revenue")
    return ui.style(fig, height=420)


def fig_weekday(ctx: Ctx) -> go.Figure:
    w = weekday_profile(ctx)
    share = w["transactions"] / w["transactions"].sum()
    fig = go.Figure(
        go.Bar(
            x=[WEEKDAYS[int(d) - 1] for d in w["dow"]],
            y=share,
            hovertemplate="%{x}: %{y:.1%} of transactions<extra></extra>",
        )
    )
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(title="Weekday profile (share of transactions)")
    return ui.style(fig)


def fig_months(ctx: Ctx) -> tuple[go.Figure, go.Figure]:
    cur = ctx.currency
    m = month_profile(ctx)
    fig = go.Figure(
        go.Bar(x=m["month"], y=m["revenue"], hovertemplate="%{x|%Y-%m}: " + cur + "%{y:,.2f}<extra></extra>")
    )
    fig.update_layout(title="Revenue by month")
    cal = pd.to_datetime(m["month"]).dt.month
    prof = m.assign(cal=cal).groupby("cal", as_index=False)["revenue"].mean()
    idx = prof["revenue"] / prof["revenue"].mean()
    fig2 = go.Figure(
        go.Bar(
            x=[MONTHS[int(i) - 1] for i in prof["cal"]],
            y=idx,
            hovertemplate="%{x}: %{y:.2f} × the average month<extra></extra>",
        )
    )
    fig2.update_layout(title="Month-of-year index (1 = average month)")
    return ui.style(fig, money_axis="y", currency=cur), ui.style(fig2, height=300)


def fig_cohorts(ctx: Ctx) -> go.Figure | None:
    c = cohorts(ctx)
    if c.empty:
        return None
    piv = c.pivot(index="cohort", columns="k", values="retention").sort_index()
    piv.index = [ui.month(i) for i in piv.index]
    fig = go.Figure(
        go.Heatmap(
            z=piv.to_numpy(),
            x=[str(k) for k in piv.columns],
            y=list(piv.index),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"tickformat": ".0%"},
            hovertemplate="cohort %{y}, month %{x}: %{z:.1%} active<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="cohort (month of first purchase)")
    fig.update_xaxes(title="months since first purchase")
    fig.update_layout(title="Cohort retention: share of each cohort buying in month k")
    return ui.style(fig, height=max(360, 22 * len(piv) + 120))


def _draw(key: tuple[str, str], build: Any, chart_key: str, empty: str) -> None:
    fig = ui.cached_figure((*key, chart_key), build)
    if fig is None:
        st.caption(empty)
    else:
        ui.chart(fig, key=chart_key)


def render(ctx: Ctx) -> None:
    if not ctx.has("transactions"):
        ui.missing("Transaction data", f"retailsim generate --preset demo --out {ctx.path}")
        return
    key = (str(ctx.path), ctx.stamp)
    tabs = st.tabs(["Distributions", "Concentration", "Seasonality", "Cohorts", "Facts"])

    with tabs[0]:
        left, right = st.columns(2)
        with left:
            ui.section(
                lambda: _draw(key, lambda: fig_spend(ctx), "ex_spend", "No identified customers with spend."),
                "Spend distribution",
            )
        with right:
            ui.section(
                lambda: _draw(key, lambda: fig_frequency(ctx), "ex_freq", "No identified customers."),
                "Frequency distribution",
            )
        ui.section(
            lambda: _draw(
                key,
                lambda: fig_basket(ctx),
                "ex_basket",
                "No basket sizes in this dataset (an imported log without quantities).",
            ),
            "Basket size distribution",
        )

    with tabs[1]:

        def conc() -> None:
            curve, gini = lorenz(ctx)
            if curve.empty:
                st.caption("No identified customers.")
                return
            top20 = 1 - float(np.interp(0.8, curve["customers"], curve["revenue"]))
            top1 = 1 - float(np.interp(0.99, curve["customers"], curve["revenue"]))
            c = st.columns(3)
            c[0].metric("Gini of customer revenue", ui.number(gini, 3))
            c[1].metric("Revenue from top 20% customers", ui.pct(top20))
            c[2].metric("Revenue from top 1% customers", ui.pct(top1))
            _draw(key, lambda: fig_lorenz(curve), "ex_lorenz", "")

        ui.section(conc, "Revenue concentration")

    with tabs[2]:
        left, right = st.columns(2)
        with left:
            ui.section(lambda: _draw(key, lambda: fig_weekday(ctx), "ex_wd", ""), "Weekday profile")
        with right:

            def months() -> None:
                figs = ui.cached_figure((*key, "ex_months"), lambda: fig_months(ctx))
                ui.chart(figs[0], key="ex_month")
                ui.chart(figs[1], key="ex_moy")

            ui.section(months, "Month profile")

    with tabs[3]:
        ui.section(
            lambda: _draw(key, lambda: fig_cohorts(ctx), "ex_cohort", "No identified customers."), "Cohorts"
        )

    with tabs[4]:

        def facts() -> None:
            big = ctx.ds.rows("transaction_lines") > 2_000_000
            if not st.toggle(
                "Compute the facts",
                value=not big,
                key="ex_facts_on",
                help="`retailsim facts` on this dataset; a few seconds per 10M lines the first time.",
            ):
                st.caption("Switch on to compute the dataset's stylised facts (cached afterwards).")
                return
            with st.spinner("Computing facts …"):
                rows = dataset_facts(str(ctx.path), ctx.stamp)
            df = pd.DataFrame(rows)
            st.dataframe(
                df, hide_index=True, column_config={"definition": st.column_config.TextColumn(width="large")}
            )
            st.caption(
                "Facts a dataset cannot support (e.g. no line items in an imported log) show as not available."
            )

        ui.section(facts, "Facts")


if __name__ == "__main__":
    ui.run_page(
        "Explore (EDA)", render, caption="How customers and baskets are distributed over people and time."
    )
