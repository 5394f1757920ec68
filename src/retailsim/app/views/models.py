"""Models: the training leaderboard, calibration and residual plots, feature importance, P(buy) and interval
checks, and the champion's model card — read from what ``retailsim ml train`` wrote (``leaderboard.json``,
``champion.json``, ``<model>/card.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from retailsim.app import data, predict, ui
from retailsim.app.data import Ctx

LEADERBOARD = "leaderboard.json"
REPORT_HTML = "report.html"
METRIC_COLUMNS = {
    "model": "model",
    "kind": "kind",
    "champion": "champion",
    "rmse": "RMSE",
    "mae": "MAE",
    "gini": "Gini",
    "spearman": "Spearman",
    "top_decile_capture": "top-decile capture",
    "mean_ratio": "mean pred / actual",
    "gap_closed": "gap closed",
    "val_rmse": "validation RMSE",
    "fit_s": "fit s",
    "score_s": "score s",
    "notes": "notes",
}


def report_roots(ctx: Ctx) -> list[Path]:
    return [r for r in predict.model_roots(ctx) if (r / LEADERBOARD).is_file()]


def load_report(root: Path) -> dict[str, Any]:
    p = root / LEADERBOARD
    rep = data.read_json(str(p), str(p.stat().st_mtime_ns))
    return rep if isinstance(rep, dict) else {}


def leaderboard_frame(rep: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(rep.get("leaderboard") or [])
    if df.empty:
        return df
    cols = [c for c in METRIC_COLUMNS if c in df.columns]
    return df[cols].rename(columns=METRIC_COLUMNS)


def _figures(rep: dict[str, Any]) -> list[tuple[str, Any]]:
    """The training report's own charts (the same figures as ``report.html``), styled for the dashboard."""
    from retailsim.ml import report as ml_report

    figs = ml_report.figures(rep)
    for _, fig in figs:
        fig.update_layout(margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return figs


def render(ctx: Ctx) -> None:
    roots = report_roots(ctx)
    if not roots:
        ui.missing(
            "A trained model and its leaderboard",
            f"retailsim ml train {ctx.path}",
            why=f"no {LEADERBOARD} under {ctx.path / 'models'}",
        )
        return
    root = roots[0] if len(roots) == 1 else st.selectbox("Model folder", roots, key="mdl_root")
    rep = load_report(root)
    champ = rep.get("champion", "?")
    cut = rep.get("cutoffs") or {}
    rows = rep.get("rows") or {}
    st.markdown(
        f"Champion **{champ}** ({rep.get('champion_rule', 'picked on the validation cutoff')}); trained "
        f"{ui.date(rep.get('created_at'))} on `{(rep.get('dataset') or {}).get('path', '?')}`."
    )
    st.caption(
        f"Cutoffs — training: {', '.join(cut.get('train') or [])}; validation: {cut.get('validation')}; test: "
        f"{cut.get('test')}; horizon {cut.get('horizon_days', 30)} days. Rows: {rows.get('train', 0):,} training, "
        f"{rows.get('validation', 0):,} validation, {rows.get('test', 0):,} test. Metrics are on the test cutoff."
    )
    unc = (rep.get("uncertainty") or {}).get("test") or {}
    champ_m = ((rep.get("metrics") or {}).get(champ) or {}).get("test") or {}
    m = st.columns(5)
    m[0].metric("Test RMSE", ui.number(champ_m.get("rmse"), 2))
    m[1].metric("Gini", ui.number(champ_m.get("gini"), 3))
    m[2].metric(
        "Gap to the oracle closed", ui.pct(champ_m.get("gap_closed")) if "gap_closed" in champ_m else "—"
    )
    m[3].metric(
        "Brier (P(buy))",
        ui.number(unc.get("brier"), 3),
        help=f"Lower is better; the base rate scores {ui.number(unc.get('brier_base_rate'), 3)}.",
    )
    m[4].metric(
        f"Interval coverage (nominal {ui.pct(unc.get('interval_nominal'), 0)})",
        ui.pct(unc.get("interval_coverage")),
    )

    st.subheader("Leaderboard")
    lb = leaderboard_frame(rep)
    st.dataframe(
        lb,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(c, format="%.3f")
            for c in (
                "RMSE",
                "MAE",
                "Gini",
                "Spearman",
                "top-decile capture",
                "mean pred / actual",
                "gap closed",
                "validation RMSE",
                "fit s",
                "score s",
            )
            if c in lb.columns
        },
    )
    st.caption(
        "`oracle` is the simulator's expected spend from the ground truth (generated data only): the floor."
    )

    def charts() -> None:
        p = root / LEADERBOARD
        figs = ui.cached_figure((str(p), p.stat().st_mtime_ns, "mdl_figs"), lambda: _figures(rep))
        tabs = st.tabs([name for name, _ in figs])
        for tab, (name, fig) in zip(tabs, figs, strict=True):
            with tab:
                ui.chart(fig, key=f"mdl_{name}")

    ui.section(charts, "Model charts")

    st.subheader("Model card")
    models = [m for m in predict.find_models(ctx) if m.parent == root] or predict.find_models(ctx)
    if not models:
        st.caption("No saved model folder with a card.")
        return
    pick = (
        models[0]
        if len(models) == 1
        else st.selectbox("Model", models, format_func=lambda p: p.name, key="mdl_pick")
    )
    card = predict.model_card(pick)
    summary = {
        k: card.get(k) for k in ("model_id", "model", "kind", "created_at", "horizon_days", "interval")
    }
    st.markdown(" · ".join(f"**{k}:** {v}" for k, v in summary.items() if v is not None))
    st.caption(
        "Every file of the model is listed with its SHA-256 in the card; loading refuses a model whose files "
        "differ (no pickle: XGBoost UBJ, skops, safetensors + JSON)."
    )
    st.json({k: v for k, v in card.items() if k != "files"}, expanded=1)
    c = st.columns(2)
    c[0].download_button(
        "Download the model card (JSON)",
        json.dumps(card, indent=1).encode(),
        file_name=f"{pick.name}-card.json",
        mime="application/json",
        key="mdl_card_dl",
        on_click="ignore",
    )
    html = root / REPORT_HTML
    if html.is_file():
        c[1].download_button(
            "Download the training report (HTML)",
            html.read_bytes(),
            file_name="report.html",
            mime="text/html",
            key="mdl_html_dl",
            on_click="ignore",
        )


if __name__ == "__main__":
    ui.run_page("Models", render, caption="How the spend models compare, and what the champion is.")
