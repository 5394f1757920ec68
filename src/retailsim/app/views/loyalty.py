"""Loyalty: tier mix over time, transitions between reviews (Sankey), a customer's tier history and why.

Reads the slowly changing dimension ``loyalty/tier_history.parquet`` (and ``loyalty/loyalty.json``) that
``retailsim loyalty assign|replay`` writes into the dataset; explanations come from
:func:`retailsim.loyalty.explain`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import ui
from retailsim.app.data import TIER_HISTORY, Ctx

TIER_COLOURS = ["#B08D57", "#A8A9AD", "#D4AF37", "#6F7E8C", "#4C72B0", "#55A868"]


def meta(ctx: Ctx) -> dict[str, Any] | None:
    p = ctx.path / "loyalty" / "loyalty.json"
    if not p.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data


def review_dates(ctx: Ctx, m: dict[str, Any] | None) -> list[dt.date]:
    if m and m.get("reviews"):
        return [dt.date.fromisoformat(d) for d in m["reviews"]]
    df = ctx.q("SELECT DISTINCT review_date FROM tier_history WHERE review_date IS NOT NULL ORDER BY 1")
    return [pd.Timestamp(d).date() for d in df["review_date"]]


def tier_order(ctx: Ctx) -> list[str]:
    df = ctx.q("SELECT tier, min(tier_rank) AS r FROM tier_history GROUP BY 1 ORDER BY 2")
    return df["tier"].tolist()


def mix_over_time(ctx: Ctx, dates: list[dt.date]) -> pd.DataFrame:
    return ctx.q(
        """
        SELECT d.d AS review, h.tier, h.tier_rank, count(*) AS customers
        FROM (SELECT unnest(?::DATE[]) AS d) d
        JOIN tier_history h ON h.valid_from <= d.d AND (h.valid_to IS NULL OR h.valid_to > d.d)
        GROUP BY ALL ORDER BY 1, 3""",
        [dates],
    )


def transitions(ctx: Ctx, d1: dt.date, d2: dt.date) -> pd.DataFrame:
    """Customers by (tier at ``d1``, tier at ``d2``); ``not enrolled`` when they had no tier at ``d1``."""
    return ctx.q(
        """
        WITH a AS (SELECT customer_id, tier, tier_rank FROM tier_history
                   WHERE valid_from <= ?::DATE AND (valid_to IS NULL OR valid_to > ?::DATE)),
             b AS (SELECT customer_id, tier, tier_rank FROM tier_history
                   WHERE valid_from <= ?::DATE AND (valid_to IS NULL OR valid_to > ?::DATE))
        SELECT coalesce(a.tier, 'not enrolled') AS from_tier, coalesce(a.tier_rank, -1) AS from_rank,
               b.tier AS to_tier, b.tier_rank AS to_rank, count(*) AS customers
        FROM b LEFT JOIN a USING (customer_id) GROUP BY ALL ORDER BY 2, 4""",
        [d1, d1, d2, d2],
    )


def sankey(tr: pd.DataFrame, d1: dt.date, d2: dt.date, order: list[str]) -> go.Figure:
    left = ["not enrolled", *order] if (tr["from_rank"] < 0).any() else list(order)
    left = [t for t in left if t in set(tr["from_tier"])]
    right = [t for t in order if t in set(tr["to_tier"])]
    labels = [f"{t} · {ui.date(d1)}" for t in left] + [f"{t} · {ui.date(d2)}" for t in right]
    colour = {t: TIER_COLOURS[i % len(TIER_COLOURS)] for i, t in enumerate(order)} | {
        "not enrolled": "#CCCCCC"
    }
    src = [left.index(t) for t in tr["from_tier"]]
    dst = [len(left) + right.index(t) for t in tr["to_tier"]]
    link_colour = [
        "rgba(89,161,79,0.45)" if b > a else "rgba(225,87,89,0.45)" if b < a else "rgba(160,160,160,0.35)"
        for a, b in zip(tr["from_rank"], tr["to_rank"], strict=True)
    ]
    fig = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 18, "thickness": 16, "color": [colour[t] for t in left + right]},
            link={
                "source": src,
                "target": dst,
                "value": tr["customers"].tolist(),
                "color": link_colour,
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,} customers<extra></extra>",
            },
        )
    )
    fig.update_layout(title=f"Tier transitions {ui.date(d1)} → {ui.date(d2)} (green up, red down)")
    return fig


def customer_history(ctx: Ctx, customer_id: int) -> pd.DataFrame:
    return ctx.q(
        """SELECT valid_from, valid_to, tier, tier_rank, change, review_date, window_spend, window_visits, reason
           FROM tier_history WHERE customer_id = ? ORDER BY valid_from""",
        [int(customer_id)],
    )


@st.cache_data(show_spinner=False, max_entries=256)
def explanation(path: str, stamp: str, customer_id: int, as_of: str | None) -> list[str]:
    """:func:`retailsim.loyalty.explain` as lines of text (cached)."""
    from retailsim.loyalty import explain

    return list(explain(Path(path), int(customer_id), as_of).summary())


def _rules(m: dict[str, Any], cur: str) -> None:
    cfg = m.get("config") or {}
    tiers = cfg.get("tiers") or []
    mode = cfg.get("mode", "threshold")
    parts = []
    for t in tiers:
        conds = []
        if t.get("min_spend") is not None:
            conds.append(f"spend ≥ {ui.money(t['min_spend'], cur)}")
        if t.get("min_visits") is not None:
            conds.append(f"visits ≥ {t['min_visits']}")
        joiner = " or " if cfg.get("combine", "any") == "any" else " and "
        parts.append(f"**{t.get('name')}**: " + (joiner.join(conds) if conds else "base tier"))
    if mode == "rank" and (cfg.get("rank") or {}).get("shares"):
        parts.append(f"rank mode, shares {cfg['rank']['shares']}")
    st.markdown(
        f"Rules ({mode} mode, rolling {cfg.get('window_months', '?')}-month window, {cfg.get('cadence', '')} "
        f"reviews, downgrade after {cfg.get('grace_months', '?')} months' grace, at most "
        f"{cfg.get('max_down_per_review', '?')} tier per review): " + " · ".join(parts)
    )


def render(ctx: Ctx) -> None:
    if not ctx.view_exists("tier_history"):
        ui.missing(
            "The loyalty tier history",
            f"retailsim loyalty assign {ctx.path}",
            why=f"no {TIER_HISTORY} in the dataset",
        )
        st.caption(
            "`retailsim loyalty replay DATASET --from DATE --to DATE` rebuilds it over a chosen range."
        )
        return
    m = meta(ctx)
    cur = ctx.currency
    key = (str(ctx.path), ctx.stamp)
    dates = review_dates(ctx, m)
    order = tier_order(ctx)
    if m:
        _rules(m, cur)
    if not dates:
        st.info("The tier history has no review yet: every customer is at the base tier.")
    else:
        mix = mix_over_time(ctx, dates)
        last = mix[mix["review"] == mix["review"].max()]
        total = last["customers"].sum()
        cols = st.columns(len(order) or 1)
        for i, t in enumerate(order):
            n = int(last.loc[last["tier"] == t, "customers"].sum())
            cols[i].metric(t, f"{n:,}", help=f"customers in {t} after the review of {ui.date(dates[-1])}")
            cols[i].caption(f"{ui.pct(n / total if total else None)} of members")

        def mix_figure() -> go.Figure:
            shares = mix.assign(share=mix["customers"] / mix.groupby("review")["customers"].transform("sum"))
            fig = px.area(
                shares,
                x="review",
                y="share",
                color="tier",
                category_orders={"tier": order},
                color_discrete_sequence=TIER_COLOURS,
                title="Tier mix at each review",
                labels={"review": "", "share": "share of members"},
                custom_data=["customers"],
            )
            fig.update_yaxes(tickformat=".0%")
            fig.update_traces(hovertemplate="%{x|%Y-%m-%d}: %{y:.1%} (%{customdata[0]:,})<extra></extra>")
            return ui.style(fig, height=380)

        ui.section(lambda: ui.cached_chart(key, mix_figure, key="loy_mix"), "Tier mix over time")

        def sankey_section() -> None:
            if len(dates) < 2:
                st.caption("Transitions need at least two reviews.")
                return
            labels = [ui.date(d) for d in dates]
            a, b = st.select_slider(
                "Compare reviews", options=labels, value=(labels[-2], labels[-1]), key="loy_pair"
            )
            if a == b:
                st.caption("Pick two different reviews.")
                return
            d1, d2 = dt.date.fromisoformat(a), dt.date.fromisoformat(b)
            tr = transitions(ctx, d1, d2)
            up = int(tr.loc[tr["to_rank"] > tr["from_rank"], "customers"].sum())
            down = int(tr.loc[(tr["to_rank"] < tr["from_rank"]), "customers"].sum())
            c = st.columns(3)
            c[0].metric("Moved up", f"{up:,}")
            c[1].metric("Moved down", f"{down:,}")
            c[2].metric("Stayed", f"{int(tr['customers'].sum()) - up - down:,}")
            ui.cached_chart(
                (*key, d1, d2), lambda: ui.style(sankey(tr, d1, d2, order), height=420), key="loy_sankey"
            )

        ui.section(sankey_section, "Transitions between reviews")

    st.subheader("A customer's tier history")

    def one_customer() -> None:
        default = ctx.scalar(
            "SELECT customer_id FROM tier_history GROUP BY 1 ORDER BY count(*) DESC, customer_id LIMIT 1"
        )
        cid = st.number_input(
            "Customer id",
            min_value=1,
            value=int(default or 1),
            step=1,
            key="loy_customer",
            help="Defaults to the customer with the most tier changes.",
        )
        hist = customer_history(ctx, int(cid))
        if hist.empty:
            st.warning(f"Customer {int(cid)} has no tier history (unknown id, or not a member yet).")
            return
        now = hist.iloc[-1]
        st.markdown(f"Customer **{int(cid)}** is **{now['tier']}** since {ui.date(now['valid_from'])}.")
        try:
            lines = explanation(str(ctx.path), ctx.stamp, int(cid), None)
        except Exception as err:  # the explanation is a bonus: the stored history is shown regardless
            ui.error("The explanation could not be computed", err)
        else:
            st.info("\n\n".join(lines))
        steps = hist[["valid_from", "tier", "tier_rank"]].copy()
        end = pd.Timestamp(dates[-1]) if dates else pd.Timestamp(steps["valid_from"].max())
        steps = pd.concat(
            [
                steps,
                pd.DataFrame({"valid_from": [end], "tier": [now["tier"]], "tier_rank": [now["tier_rank"]]}),
            ]
        )

        def steps_figure() -> go.Figure:
            fig = go.Figure(
                go.Scatter(
                    x=steps["valid_from"],
                    y=steps["tier_rank"],
                    mode="lines+markers",
                    line={"shape": "hv"},
                    customdata=steps["tier"],
                    hovertemplate="%{x|%Y-%m-%d}: %{customdata}<extra></extra>",
                )
            )
            fig.update_yaxes(
                tickvals=list(range(len(order))), ticktext=order, range=[-0.3, max(len(order) - 0.7, 0.3)]
            )
            fig.update_layout(title="Tier over time")
            return ui.style(fig, height=300)

        ui.cached_chart((*key, int(cid)), steps_figure, key="loy_steps")
        show = hist.drop(columns=["tier_rank"]).copy()
        for col in ("valid_from", "valid_to", "review_date"):
            show[col] = show[col].map(ui.date)
        st.dataframe(
            show,
            hide_index=True,
            column_config={
                "window_spend": ui.money_column("window spend", cur),
                "reason": st.column_config.TextColumn("reason", width="large"),
            },
        )

    ui.section(one_customer, "Customer tier history")


if __name__ == "__main__":
    ui.run_page("Loyalty", render, caption="Tiers from behaviour, reviewed over time, with the reasons.")
