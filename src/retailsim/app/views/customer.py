"""Customer 360 and prediction: find a customer, see the profile and history, predict the next 30 days —
and how today's shopping changes that prediction."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import predict, ui
from retailsim.app.data import Ctx
from retailsim.app.segments import value_segments

MAX_FORM_ITEMS = 8


# --- queries ------------------------------------------------------------------------------------------------


def search(ctx: Ctx, text: str, limit: int = 50) -> pd.DataFrame:
    """Customers whose id, source id, name or e-mail matches ``text`` (top spenders first when empty)."""
    text = text.strip()
    name_cols = [c for c in ("first_name", "last_name") if ctx.has_column("customers", c)]
    name = " || ' ' || ".join(f"coalesce({c}, '')" for c in name_cols) if name_cols else "''"
    city = "city" if ctx.has_column("customers", "city") else "NULL"
    base = f"""
        SELECT c.customer_id, {name} AS name, {city} AS city, coalesce(s.spend, 0) AS spend
        FROM customers c
        LEFT JOIN (SELECT customer_id, sum(total_amount) AS spend FROM transactions
                   WHERE customer_id IS NOT NULL GROUP BY 1) s USING (customer_id)"""
    if not text:
        return ctx.q(f"{base} ORDER BY spend DESC, customer_id LIMIT {int(limit)}")
    conds = ["c.customer_id = TRY_CAST(? AS BIGINT)"]
    params: list[Any] = [text]
    if ctx.has_column("customers", "external_id"):
        conds.append("c.external_id = ?")
        params.append(text)
    if name_cols:
        conds.append(f"({name}) ILIKE ?")
        params.append(f"%{text}%")
    if ctx.has_column("customers", "email"):
        conds.append("c.email ILIKE ?")
        params.append(f"%{text}%")
    return ctx.q(
        f"{base} WHERE {' OR '.join(conds)} ORDER BY spend DESC, customer_id LIMIT {int(limit)}", params
    )


def profile(ctx: Ctx, customer_id: int) -> dict[str, Any] | None:
    join = ""
    extra = ""
    if ctx.has("stores") and ctx.has_column("customers", "home_store_id"):
        join = "LEFT JOIN stores s ON s.store_id = c.home_store_id"
        extra = ", s.store_name AS home_store, s.format AS home_store_format, s.city AS home_store_city"
    df = ctx.q(f"SELECT c.*{extra} FROM customers c {join} WHERE c.customer_id = ?", [int(customer_id)])
    if df.empty:
        return None
    row: dict[str, Any] = df.iloc[0].to_dict()
    absent = ctx.ds.absent_columns("customers")
    return {k: v for k, v in row.items() if k not in absent}


def activity(ctx: Ctx, customer_id: int) -> dict[str, Any]:
    df = ctx.q(
        """SELECT count(*) AS transactions, sum(total_amount) AS spend, avg(total_amount) AS basket,
                  min(txn_ts) AS first_purchase, max(txn_ts) AS last_purchase
           FROM transactions WHERE customer_id = ?""",
        [int(customer_id)],
    )
    return df.iloc[0].to_dict()


@st.cache_data(show_spinner=False, max_entries=16)
def _segments(path: str, stamp: str, end: str) -> pd.DataFrame:
    """Every customer's spend over the last 12 months of the data and the value segment it puts them in."""
    from retailsim.app.data import query

    df = query(
        path,
        stamp,
        """SELECT c.customer_id, coalesce(s.spend, 0) AS spend FROM customers c LEFT JOIN (
             SELECT customer_id, sum(total_amount) AS spend FROM transactions
             WHERE customer_id IS NOT NULL AND txn_ts > ?::TIMESTAMP - INTERVAL 365 DAY GROUP BY 1) s
           USING (customer_id)""",
        (end,),
    )
    df["segment"] = value_segments(df["spend"]).to_numpy()
    return df.set_index("customer_id")


def segment_of(ctx: Ctx, customer_id: int) -> tuple[str, float]:
    _, hi = ctx.horizon
    seg = _segments(str(ctx.path), ctx.stamp, hi.isoformat())
    if customer_id not in seg.index:
        return "—", 0.0
    return str(seg.at[customer_id, "segment"]), float(seg.at[customer_id, "spend"])


def current_tier(ctx: Ctx, customer_id: int) -> str | None:
    if not ctx.view_exists("tier_history"):
        return None
    df = ctx.q(
        "SELECT tier, valid_from FROM tier_history WHERE customer_id = ? ORDER BY valid_from DESC LIMIT 1",
        [int(customer_id)],
    )
    return None if df.empty else f"{df.at[0, 'tier']} (since {ui.date(df.at[0, 'valid_from'])})"


def monthly_history(ctx: Ctx, customer_id: int) -> pd.DataFrame:
    return ctx.q(
        """WITH m AS (SELECT unnest(generate_series(date_trunc('month', (SELECT min(txn_ts) FROM transactions)),
                                                    date_trunc('month', (SELECT max(txn_ts) FROM transactions)),
                                                    INTERVAL 1 MONTH))::DATE AS month),
                t AS (SELECT date_trunc('month', txn_ts)::DATE AS month, sum(total_amount) AS spend,
                             count(*) AS visits FROM transactions WHERE customer_id = ? GROUP BY 1)
           SELECT month, coalesce(spend, 0) AS spend, coalesce(visits, 0) AS visits
           FROM m LEFT JOIN t USING (month) ORDER BY month""",
        [int(customer_id)],
    )


def top_categories(ctx: Ctx, customer_id: int) -> pd.DataFrame:
    return ctx.q(
        """SELECT p.department, p.category, sum(l.line_amount) AS spend, sum(l.quantity) AS units
           FROM (SELECT txn_id FROM transactions WHERE customer_id = ?) t
           JOIN transaction_lines l USING (txn_id) JOIN products p USING (product_id)
           GROUP BY ALL ORDER BY spend DESC LIMIT 10""",
        [int(customer_id)],
    )


def recent(ctx: Ctx, customer_id: int) -> pd.DataFrame:
    store = ", s.store_name AS store" if ctx.has("stores") else ""
    join = "LEFT JOIN stores s USING (store_id)" if ctx.has("stores") else ""
    return ctx.q(
        f"""SELECT t.txn_ts AS time{store}, t.channel, t.n_items AS items, t.total_amount AS amount
            FROM transactions t {join} WHERE t.customer_id = ? ORDER BY t.txn_ts DESC LIMIT 10""",
        [int(customer_id)],
    )


# --- page ---------------------------------------------------------------------------------------------------


def _age(birth: Any, on: pd.Timestamp) -> str:
    if birth is None or pd.isna(birth):
        return "—"
    b = pd.Timestamp(birth)
    return str(on.year - b.year - ((on.month, on.day) < (b.month, b.day)))


def _pick_customer(ctx: Ctx) -> int | None:
    c = st.columns([2, 3])
    text = c[0].text_input("Search by id, name or e-mail", key="c360_search", placeholder="e.g. 42 or Smith")
    hits = search(ctx, text or "")
    if hits.empty:
        c[1].warning(f"No customer matches {text!r}.")
        return None
    cur = ctx.currency
    labels = {
        int(r.customer_id): f"{int(r.customer_id)} — {(r.name or '').strip() or 'no name'}"
        + (f" ({r.city})" if isinstance(r.city, str) else "")
        + f" · {ui.money(r.spend, cur)}"
        for r in hits.itertuples()
    }
    cid = c[1].selectbox(
        "Customer",
        list(labels),
        format_func=lambda i: labels[i],
        key="c360_pick",
        help="Matches, highest spend first (the top spenders when the search is empty).",
    )
    return None if cid is None else int(cid)


def _profile_section(ctx: Ctx, cid: int) -> None:
    cur = ctx.currency
    p = profile(ctx, cid)
    if p is None:
        st.warning(f"Customer {cid} is not in the customers table.")
        return
    a = activity(ctx, cid)
    _, hi = ctx.horizon
    seg, spend12 = segment_of(ctx, cid)
    name = " ".join(str(p[k]) for k in ("first_name", "last_name") if isinstance(p.get(k), str))
    st.subheader(
        f"{name or 'Customer'} · #{cid}"
        + (f" · source id {p['external_id']}" if p.get("external_id") else "")
    )
    m = st.columns(5)
    m[0].metric("Lifetime spend", ui.money(a["spend"], cur))
    m[1].metric("Transactions", ui.number(a["transactions"]))
    m[2].metric("Basket value", ui.money(a["basket"], cur))
    m[3].metric(
        "Value segment (12 months)",
        seg,
        help=f"Spend in the last 12 months of data: {ui.money(spend12, cur)}",
    )
    tier = current_tier(ctx, cid)
    m[4].metric(
        "Loyalty tier", tier.split(" (")[0] if tier else "—", help=tier or "run `retailsim loyalty assign`"
    )
    facts = {
        "Gender": p.get("gender"),
        "Age": _age(p.get("birth_date"), hi) if "birth_date" in p else None,
        "City": ", ".join(str(p[k]) for k in ("city", "region") if isinstance(p.get(k), str)) or None,
        "E-mail": p.get("email"),
        "Signed up": f"{ui.date(p['signup_date'])}"
        + (f" via {p['signup_channel']}" if p.get("signup_channel") else "")
        if p.get("signup_date") is not None
        else None,
        "Home store": f"{p['home_store']} ({p.get('home_store_format')})" if p.get("home_store") else None,
        "Marketing opt-in": {True: "yes", False: "no"}.get(p.get("marketing_opt_in")),
        "First / last purchase": f"{ui.date(a['first_purchase'])} / {ui.date(a['last_purchase'])}"
        if a["transactions"]
        else "no purchase yet",
    }
    shown = {k: v for k, v in facts.items() if v is not None and not (isinstance(v, float) and pd.isna(v))}
    st.markdown(" · ".join(f"**{k}:** {v}" for k, v in shown.items()))


def _history_figure(h: pd.DataFrame, cur: str) -> go.Figure:
    fig = go.Figure()
    fig.add_bar(
        x=h["month"],
        y=h["spend"],
        name="spend",
        hovertemplate="%{x|%Y-%m}: " + cur + "%{y:,.2f}<extra></extra>",
    )
    fig.add_scatter(
        x=h["month"],
        y=h["visits"],
        name="visits",
        yaxis="y2",
        mode="lines+markers",
        hovertemplate="%{x|%Y-%m}: %{y} visits<extra></extra>",
    )
    fig.update_layout(
        title="Purchase history by month",
        yaxis={"title": "spend", "tickprefix": cur},
        yaxis2={
            "title": "visits",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tickformat": ",.0f",
        },
    )
    return ui.style(fig, height=340)


def _history_section(ctx: Ctx, cid: int) -> None:
    cur = ctx.currency
    left, right = st.columns([3, 2])
    with left:

        def build() -> go.Figure:
            return _history_figure(monthly_history(ctx, cid), cur)

        ui.cached_chart((str(ctx.path), ctx.stamp, cid), build, key="c360_hist")
    with right:
        if ctx.has("transaction_lines") and ctx.has("products"):
            cats = top_categories(ctx, cid)
            if cats.empty:
                st.caption("No line items for this customer.")
            else:
                st.markdown("**Top categories**")
                st.dataframe(cats, hide_index=True, column_config={"spend": ui.money_column("spend", cur)})
        else:
            st.caption("Top categories need line items and products (not in this dataset).")
    r = recent(ctx, cid)
    if not r.empty:
        with st.expander("Latest transactions"):
            r["time"] = r["time"].map(lambda x: pd.Timestamp(x).strftime("%Y-%m-%d %H:%M"))
            st.dataframe(r, hide_index=True, column_config={"amount": ui.money_column("amount", cur)})


def render(ctx: Ctx) -> None:
    if not ctx.has("customers") or not ctx.has("transactions"):
        ui.missing("Customer and transaction data", f"retailsim generate --preset demo --out {ctx.path}")
        return
    cid = _pick_customer(ctx)
    if cid is None:
        return
    ui.section(lambda: _profile_section(ctx, cid), "Customer profile")
    ui.section(lambda: _history_section(ctx, cid), "Purchase history")
    st.divider()
    ui.section(lambda: predict.prediction_panel(ctx, cid, max_items=MAX_FORM_ITEMS), "Prediction")


if __name__ == "__main__":
    ui.run_page(
        "Customer 360 & prediction", render, caption="One customer: who, what, how much — and next month."
    )
