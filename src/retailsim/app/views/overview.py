"""Overview: KPIs with period-over-period change, revenue over time and by store format, region, city, category."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import ui
from retailsim.app.data import Ctx


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # inclusive
    regions: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        return Filters(
            self.start - dt.timedelta(days=self.days),
            self.start - dt.timedelta(days=1),
            self.regions,
            self.formats,
        )


def store_filter_sql(f: Filters, alias: str = "t") -> tuple[str, list[Any]]:
    """``AND store_id IN (…)`` for the region/format filters (empty when there are none)."""
    conds, params = [], []
    if f.regions:
        conds.append("list_contains(?, region)")
        params.append(list(f.regions))
    if f.formats:
        conds.append("list_contains(?, format)")
        params.append(list(f.formats))
    if not conds:
        return "", []
    return f" AND {alias}.store_id IN (SELECT store_id FROM stores WHERE {' AND '.join(conds)})", params


def time_where(start: dt.date, end: dt.date, alias: str = "t") -> tuple[str, list[Any]]:
    return f"{alias}.txn_ts >= ? AND {alias}.txn_ts < ?", [start, end + dt.timedelta(days=1)]


def kpis(ctx: Ctx, f: Filters) -> pd.DataFrame:
    """Revenue, customers, transactions and basket value for the period and the one before (column ``cur``)."""
    prev = f.previous()
    tw, tp = time_where(prev.start, f.end)
    sw, sp = store_filter_sql(f)
    return ctx.q(
        f"""
        SELECT t.txn_ts >= ? AS cur, sum(t.total_amount) AS revenue, count(DISTINCT t.customer_id) AS customers,
               count(*) AS transactions, sum(t.total_amount) / count(*) AS basket_value,
               sum(t.n_items)::DOUBLE / count(*) AS items_per_basket
        FROM transactions t WHERE {tw}{sw} GROUP BY 1""",
        [f.start, *tp, *sp],
    )


def grain(f: Filters) -> str:
    return "day" if f.days <= 92 else "week" if f.days <= 731 else "month"


def revenue_over_time(ctx: Ctx, f: Filters) -> pd.DataFrame:
    """Revenue per day/week/month; ``complete`` is False for a period only partly inside the range."""
    tw, tp = time_where(f.start, f.end)
    sw, sp = store_filter_sql(f)
    g = grain(f)
    return ctx.q(
        f"""
        SELECT date_trunc('{g}', t.txn_ts)::DATE AS period, sum(t.total_amount) AS revenue,
               count(*) AS transactions,
               date_trunc('{g}', t.txn_ts)::DATE >= ?::DATE
                 AND (date_trunc('{g}', t.txn_ts) + INTERVAL 1 {g})::DATE <= ?::DATE AS complete
        FROM transactions t WHERE {tw}{sw} GROUP BY ALL ORDER BY 1""",
        [f.start, f.end + dt.timedelta(days=1), *tp, *sp],
    )


def revenue_by_store(ctx: Ctx, f: Filters) -> pd.DataFrame:
    tw, tp = time_where(f.start, f.end)
    sw, sp = store_filter_sql(f)
    return ctx.q(
        f"""
        SELECT s.format, s.region, s.city, sum(t.total_amount) AS revenue, count(*) AS transactions
        FROM transactions t JOIN stores s USING (store_id) WHERE {tw}{sw} GROUP BY ALL""",
        [*tp, *sp],
    )


def revenue_by_category(ctx: Ctx, f: Filters) -> pd.DataFrame:
    tw, tp = time_where(f.start, f.end)
    sw, sp = store_filter_sql(f)
    return ctx.q(
        f"""
        SELECT p.department, p.category, sum(l.line_amount) AS revenue, sum(l.quantity) AS units
        FROM transaction_lines l
        JOIN (SELECT txn_id FROM transactions t WHERE {tw}{sw}) t USING (txn_id)
        JOIN products p USING (product_id)
        GROUP BY ALL ORDER BY revenue DESC""",
        [*tp, *sp],
    )


def _filters(ctx: Ctx) -> Filters:
    lo, hi = ctx.horizon
    lo_d, hi_d = lo.date(), hi.date()
    has_stores = ctx.has("stores")
    cols = st.columns([2, 2, 2])
    with cols[0]:
        rng = st.date_input(
            "Date range",
            value=(lo_d, hi_d),
            min_value=lo_d,
            max_value=hi_d,
            key="ov_dates",
            format="YYYY-MM-DD",
        )
    start, end = (rng[0], rng[-1]) if isinstance(rng, tuple | list) and rng else (lo_d, hi_d)
    regions: list[str] = []
    formats: list[str] = []
    if has_stores and ctx.has_column("stores", "region"):
        opts = ctx.q("SELECT DISTINCT region FROM stores WHERE region IS NOT NULL ORDER BY 1")[
            "region"
        ].tolist()
        with cols[1]:
            regions = st.multiselect("Region", opts, key="ov_regions", placeholder="All regions")
    if has_stores and ctx.has_column("stores", "format"):
        opts = ctx.q("SELECT DISTINCT format FROM stores WHERE format IS NOT NULL ORDER BY 1")[
            "format"
        ].tolist()
        with cols[2]:
            formats = st.multiselect("Store type", opts, key="ov_formats", placeholder="All store types")
    if not has_stores:
        st.caption("This dataset has no store table: region and store-type filters are not available.")
    return Filters(start, end, tuple(regions), tuple(formats))


def render(ctx: Ctx) -> None:
    if not ctx.has("transactions"):
        ui.missing("Transaction data", f"retailsim generate --preset demo --out {ctx.path}")
        return
    f = _filters(ctx)
    cur = ctx.currency
    k = kpis(ctx, f)
    now = k[k["cur"]].iloc[0] if k["cur"].any() else None
    before = k[~k["cur"]].iloc[0] if (~k["cur"]).any() else None

    def val(row: Any, col: str) -> Any:
        return None if row is None else row[col]

    c = st.columns(5)
    c[0].metric(
        "Revenue",
        ui.money(val(now, "revenue"), cur, compact=True),
        ui.delta(val(now, "revenue"), val(before, "revenue")),
    )
    c[1].metric(
        "Customers",
        ui.number(val(now, "customers")),
        ui.delta(val(now, "customers"), val(before, "customers")),
    )
    c[2].metric(
        "Transactions",
        ui.number(val(now, "transactions")),
        ui.delta(val(now, "transactions"), val(before, "transactions")),
    )
    c[3].metric(
        "Basket value",
        ui.money(val(now, "basket_value"), cur),
        ui.delta(val(now, "basket_value"), val(before, "basket_value")),
    )
    c[4].metric(
        "Items per basket",
        ui.number(val(now, "items_per_basket"), 1),
        ui.delta(val(now, "items_per_basket"), val(before, "items_per_basket")),
    )
    prev = f.previous()
    compare = (
        f"change vs {ui.date(prev.start)} – {ui.date(prev.end)}"
        if before is not None
        else "no data in the period before to compare with"
    )
    st.caption(
        f"{ui.date(f.start)} – {ui.date(f.end)} ({f.days} days), {compare}. "
        "Customers are identified card holders (anonymous baskets count in revenue)."
    )
    if now is None:
        st.warning("No transactions match these filters.")
        return
    fkey = (str(ctx.path), ctx.stamp, f.start, f.end, f.regions, f.formats)

    def over_time() -> None:
        ts = revenue_over_time(ctx, f)
        partial = int((~ts["complete"]).sum())
        if partial and len(ts) > partial:
            ts = ts[ts["complete"]]
            st.caption(f"{partial} incomplete {grain(f)}(s) at the edges of the range are not drawn.")

        def build() -> go.Figure:
            fig = px.line(
                ts,
                x="period",
                y="revenue",
                markers=grain(f) != "day",
                title=f"Revenue per {grain(f)}",
                labels={"period": "", "revenue": "revenue"},
            )
            fig.update_traces(hovertemplate="%{x|%Y-%m-%d}<br>" + cur + "%{y:,.2f}<extra></extra>")
            return ui.style(fig, money_axis="y", currency=cur)

        ui.cached_chart(fkey, build, key="ov_time")

    ui.section(over_time, "Revenue over time")

    def store_bar(col: str, title: str, key: str, height: int = 360) -> None:
        if not (ctx.has("stores") and ctx.has_column("stores", col)):
            st.caption(f"{title} needs the stores' {col} (not in this dataset).")
            return

        def build() -> go.Figure:
            df = revenue_by_store(ctx, f)
            agg = df.groupby(col, as_index=False)["revenue"].sum().sort_values("revenue").tail(15)
            fig = px.bar(
                agg, x="revenue", y=col, orientation="h", title=title, labels={col: "", "revenue": "revenue"}
            )
            fig.update_traces(hovertemplate="%{y}: " + cur + "%{x:,.2f}<extra></extra>")
            return ui.style(fig, money_axis="x", currency=cur, height=height)

        ui.cached_chart(fkey, build, key=key)

    def by_category() -> None:
        if not (ctx.has("transaction_lines") and ctx.has("products")):
            st.caption("Revenue by category needs line items and products (not in this dataset).")
            return

        def build() -> go.Figure:
            cat = revenue_by_category(ctx, f)
            top = cat.sort_values("revenue").tail(15)
            fig = go.Figure(
                go.Bar(
                    x=top["revenue"],
                    y=top["category"],
                    orientation="h",
                    customdata=top["department"],
                    hovertemplate="%{y} (%{customdata}): " + cur + "%{x:,.2f}<extra></extra>",
                )
            )
            fig.update_layout(title="Revenue by category (top 15)")
            return ui.style(fig, money_axis="x", currency=cur, height=420)

        ui.cached_chart(fkey, build, key="ov_cat")

    row1 = st.columns(2)
    with row1[0]:
        ui.section(
            lambda: store_bar("format", "Revenue by store format", "ov_fmt"), "Revenue by store format"
        )
    with row1[1]:
        ui.section(lambda: store_bar("region", "Revenue by region (top 15)", "ov_reg"), "Revenue by region")
    row2 = st.columns(2)
    with row2[0]:
        ui.section(lambda: store_bar("city", "Revenue by city (top 15)", "ov_city", 420), "Revenue by city")
    with row2[1]:
        ui.section(by_category, "Revenue by category")


if __name__ == "__main__":
    ui.run_page(
        "Overview", render, caption="Revenue, customers and baskets for the chosen period and stores."
    )
