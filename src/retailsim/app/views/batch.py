"""Batch scoring: predicted next-30-day spend, P(buy) and interval for uploaded customer ids (optionally each
with an as-of date) or for everyone, with a value segment; rows that cannot be scored are listed with the
reason and the rest are still scored."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import predict, ui
from retailsim.app.data import Ctx
from retailsim.errors import RetailsimError
from retailsim.ml.predict import SEGMENTS as ML_SEGMENTS

MAX_UPLOAD_MB = 20
MAX_UPLOAD_ROWS = 200_000
GRID_ROWS = 1_000
TEMPLATE = "customer_id,as_of\n1,\n2,2025-03-31\n"


class BatchInputError(RetailsimError):
    """The uploaded file cannot be used at all (too big, no customer_id column, not a CSV)."""


def parse_upload(
    data: bytes,
    default_as_of: dt.date,
    by_source_id: Callable[[list[str]], dict[str, int]] | None = None,
) -> pd.DataFrame:
    """Rows of the uploaded CSV as ``row, customer_id, as_of, reason`` (reason set when the row is unusable).

    The ids come from a ``customer_id`` column (or ``external_id``, or the only column). On an imported log
    ``by_source_id`` maps the source system's ids to surrogate ids: an id that is a source id is that
    customer (:mod:`retailsim.storage.customer_ids`), any other must be a whole number (the surrogate id).

    Raises
    ------
    BatchInputError
        The whole file is unusable: over the size or row limit, not a CSV, no ``customer_id`` column.
    """
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise BatchInputError(
            f"the file is {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_UPLOAD_MB} MB"
        )
    try:
        raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise BatchInputError(f"not a readable CSV file: {str(err).splitlines()[0]}") from None
    cols = {c.strip().lower(): c for c in raw.columns}
    if "customer_id" not in cols:
        if "external_id" in cols:
            cols["customer_id"] = cols["external_id"]
        elif len(raw.columns) == 1:
            cols["customer_id"] = raw.columns[0]
        else:
            raise BatchInputError("the file needs a customer_id column (download the template)")
    if len(raw) > MAX_UPLOAD_ROWS:
        raise BatchInputError(f"the file has {len(raw):,} rows; the limit is {MAX_UPLOAD_ROWS:,}")
    if raw.empty:
        raise BatchInputError("the file has no rows")
    ids = raw[cols["customer_id"]].str.strip()
    as_of_txt = raw[cols["as_of"]].str.strip() if "as_of" in cols else pd.Series([""] * len(raw))
    out = pd.DataFrame({"row": np.arange(2, len(raw) + 2), "input_id": ids, "input_as_of": as_of_txt})
    num = pd.to_numeric(ids, errors="coerce")
    ok_id = num.notna() & (num == num.round()) & (num > 0)
    surrogate = num.where(ok_id).astype("Int64")
    hits = by_source_id(sorted(set(ids) - {""})) if by_source_id is not None else {}
    if hits:
        source = ids.map(hits).astype("Int64")
        out["customer_id"] = source.fillna(surrogate)
        ok_id = ok_id | source.notna()
    else:
        out["customer_id"] = surrogate
    parsed = pd.to_datetime(as_of_txt.where(as_of_txt != ""), format="%Y-%m-%d", errors="coerce")
    as_of = [
        default_as_of if t == "" else (None if pd.isna(d) else d.date())
        for t, d in zip(as_of_txt, parsed, strict=True)
    ]
    out["as_of"] = pd.Series(as_of, dtype=object)
    reason = pd.Series([None] * len(out), dtype=object)
    reason[(as_of_txt != "") & parsed.isna()] = "as_of is not a date (YYYY-MM-DD)"
    reason[ids == ""] = "empty customer_id"
    reason[(ids != "") & ~ok_id] = (
        "no customer has this source id, and it is not a positive whole number (customer_id)"
        if by_source_id is not None
        else "customer_id is not a positive whole number"
    )
    out["reason"] = reason
    return out


def check_dates(rows: pd.DataFrame, lo: dt.date, hi: dt.date) -> pd.DataFrame:
    """Add a reason for as-of dates outside the data (unknown ids and customers not known yet on their date
    are reported by the model's own scoring)."""
    rows = rows.copy()
    todo = rows["reason"].isna()
    before = todo & rows["as_of"].map(lambda d: d is not None and d < lo)
    rows.loc[before, "reason"] = f"as_of is before the data (starts {ui.date(lo)})"
    after = todo & rows["as_of"].map(lambda d: d is not None and d > hi)
    rows.loc[after, "reason"] = f"as_of is after the data (ends {ui.date(hi)})"
    return rows


def score_rows(ctx: Ctx, model_dir: Any, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the usable rows (one model call per as-of date); return (scored rows, rows not scored)."""
    good = rows[rows["reason"].isna()]
    bad = [rows.loc[rows["reason"].notna(), ["row", "input_id", "input_as_of", "reason"]]]
    parts = []
    for day, grp in good.groupby("as_of", sort=True):
        ids = tuple(sorted({int(i) for i in grp["customer_id"]}))
        try:
            sc = predict.score(ctx, model_dir, ids, day)
        except RetailsimError as err:
            bad.append(grp[["row", "input_id", "input_as_of"]].assign(reason=f"could not be scored: {err}"))
            continue
        sc = sc.drop(columns=["as_of"]).dropna(subset=["customer_id"]).drop_duplicates("customer_id")
        sc["customer_id"] = sc["customer_id"].astype("int64")
        merged = (
            grp[["row", "input_id", "input_as_of", "customer_id", "as_of"]]
            .astype({"customer_id": "int64"})
            .merge(sc, on="customer_id", how="left")
        )
        ok = merged["status"] == "ok"
        parts.append(merged[ok])
        miss = merged.loc[~ok, ["row", "input_id", "input_as_of"]]
        bad.append(miss.assign(reason=merged.loc[~ok, "message"].fillna("not scored")))
    cols = ["row", "customer_id", "external_id", "as_of", "spend", "p_buy", "lo", "hi", "segment"]
    scored = pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
    kept = [b for b in bad if len(b)]
    not_scored = (
        pd.concat(kept, ignore_index=True).sort_values("row")
        if kept
        else pd.DataFrame(columns=["row", "input_id", "input_as_of", "reason"])
    )
    return scored, not_scored


def _results(ctx: Ctx, scores: pd.DataFrame, bad: pd.DataFrame, key: tuple[Any, ...]) -> None:
    cur = ctx.currency
    scored = scores
    m = st.columns(4)
    m[0].metric("Scored customers", f"{len(scored):,}")
    m[1].metric("Predicted spend, next 30 days", ui.money(scored["spend"].sum(), cur, compact=True))
    m[2].metric("Mean P(buy)", ui.pct(scored["p_buy"].mean()) if "p_buy" in scored else "—")
    m[3].metric("Not scored", f"{len(bad):,}")

    def build() -> go.Figure:
        v = scored["spend"].clip(lower=0)
        hi = float(np.quantile(v, 0.99)) if len(v) else 1.0
        counts, edges = np.histogram(v.clip(upper=hi), bins=40, range=(0, max(hi, 1e-9)))
        fig = go.Figure(
            go.Bar(
                x=(edges[:-1] + edges[1:]) / 2,
                y=counts,
                width=np.diff(edges) * 0.95,
                hovertemplate=cur + "%{x:,.2f}: %{y:,} customers<extra></extra>",
            )
        )
        fig.update_layout(title="Predicted 30-day spend (top 1% clipped into the last bar)")
        fig.update_xaxes(tickprefix=cur, title="predicted spend")
        fig.update_yaxes(title="customers")
        return ui.style(fig)

    def build_seg() -> go.Figure:
        seg = scored["segment"].value_counts().reindex(list(ML_SEGMENTS), fill_value=0)
        fig = go.Figure(go.Bar(x=seg.index, y=seg.to_numpy(), hovertemplate="%{x}: %{y:,}<extra></extra>"))
        fig.update_layout(title="Customers by predicted value segment")
        return ui.style(fig)

    left, right = st.columns(2)
    with left:
        ui.cached_chart(key, build, key="bs_hist")
    with right:
        ui.cached_chart(key, build_seg, key="bs_seg")
    show = scored.sort_values("spend", ascending=False)
    if "external_id" in show and show["external_id"].isna().all():  # generated data: no source ids
        show = show.drop(columns="external_id")
    if "as_of" in show:
        show = show.assign(as_of=pd.to_datetime(show["as_of"]).dt.strftime("%Y-%m-%d"))
    if len(show) > GRID_ROWS:
        st.caption(
            f"The {GRID_ROWS:,} highest predictions of {len(show):,} are shown; the download has them all."
        )
    st.dataframe(
        show.head(GRID_ROWS),
        hide_index=True,
        column_config={
            "spend": ui.money_column("predicted spend", cur),
            "lo": ui.money_column("interval low", cur),
            "hi": ui.money_column("interval high", cur),
            "p_buy": st.column_config.NumberColumn("P(buy)", format="percent"),
        },
    )
    ui.download_csv("Download scores (CSV)", show, "scores.csv", "bs_dl")
    if len(bad):
        st.markdown("**Rows that could not be scored**")
        st.dataframe(bad[["row", "input_id", "input_as_of", "reason"]], hide_index=True)
        ui.download_csv("Download unscored rows (CSV)", bad, "not_scored.csv", "bs_dl_bad")


def render(ctx: Ctx) -> None:
    models = predict.find_models(ctx)
    if not models:
        ui.missing(
            "A trained model", f"retailsim ml train {ctx.path}", why=f"no model under {ctx.path / 'models'}"
        )
        return
    model_dir = models[0]
    lo, hi = predict.data_range(str(ctx.path), ctx.stamp)
    c = st.columns([2, 2, 1])
    how = c[0].radio("Customers", ["Everyone", "Upload a CSV of ids"], horizontal=True, key="bs_how")
    as_of = c[1].date_input(
        "As of (default for rows without one)",
        value=hi,
        min_value=lo,
        max_value=hi,
        key="bs_as_of",
        format="YYYY-MM-DD",
    )
    c[2].download_button(
        "CSV template",
        TEMPLATE.encode(),
        file_name="score_template.csv",
        mime="text/csv",
        key="bs_tpl",
        on_click="ignore",
    )
    st.caption(
        f"Model `{model_dir.name}`. Upload: a `customer_id` column (an imported log's own ids work too) and optionally `as_of` (YYYY-MM-DD) per row; "
        f"at most {MAX_UPLOAD_MB} MB and {MAX_UPLOAD_ROWS:,} rows. The value segment ranks predicted spend by "
        "the model's thresholds (set at training)."
    )
    if how == "Everyone":
        if not st.toggle("Score every customer", key="bs_all", value=False):
            st.caption("Switch on to score everyone known on the as-of date (cached afterwards).")
            return
        with st.spinner("Scoring everyone …"):
            scores = predict.score(ctx, model_dir, None, as_of)
        cols = ["customer_id", "external_id", "as_of", "spend", "p_buy", "lo", "hi", "segment"]
        scores = scores.loc[scores["status"] == "ok", cols]
        none = pd.DataFrame(columns=["row", "input_id", "input_as_of", "reason"])
        _results(ctx, scores, none, (str(ctx.path), ctx.stamp, str(model_dir), "all", as_of))
        return
    up = st.file_uploader("CSV of customer ids", type=["csv"], key="bs_file", max_upload_size=MAX_UPLOAD_MB)
    if up is None:
        return
    lookup = None
    if ctx.has_column("customers", "external_id"):
        from retailsim.storage.customer_ids import by_source_id, has_source_ids

        if has_source_ids(ctx.ds):
            lookup = lambda values: by_source_id(ctx.ds, values)  # noqa: E731
    try:
        rows = parse_upload(up.getvalue(), as_of, lookup)
    except BatchInputError as err:
        st.error(f"Upload refused: {err}")
        return
    scored, bad = score_rows(ctx, model_dir, check_dates(rows, lo, hi))
    if scored.empty and bad.empty:
        st.info("Nothing to score.")
        return
    _results(ctx, scored, bad, (str(ctx.path), ctx.stamp, str(model_dir), up.file_id))


if __name__ == "__main__":
    ui.run_page("Batch scoring", render, caption="Next-30-day predictions for many customers at once.")
