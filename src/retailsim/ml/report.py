"""The training report: ``leaderboard.json`` and a self-contained ``report.html`` (Plotly inlined, no CDN)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

LEADERBOARD_JSON = "leaderboard.json"
REPORT_HTML = "report.html"

#: Leaderboard columns: key, HTML header, terminal header ("" = HTML and JSON only), format.
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("model", "model", "model", "s"),
    ("rmse", "RMSE", "RMSE", ".2f"),
    ("mae", "MAE", "MAE", ".2f"),
    ("gini", "Gini", "Gini", ".3f"),
    ("spearman", "Spearman", "", ".3f"),
    ("top_decile_capture", "top-10% capture", "top10", ".1%"),
    ("mean_ratio", "mean pred/actual", "p/a", ".2f"),
    ("gap_closed", "gap closed", "gap", ".0%"),
    ("val_rmse", "val RMSE", "vRMSE", ".2f"),
    ("fit_s", "fit s", "fit s", ".1f"),
    ("score_s", "score s", "", ".2f"),
)


def fmt(value: Any, spec: str) -> str:
    """Format a leaderboard cell ('–' for missing values)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if spec == "s":
        return str(value)
    return format(value, spec)


def write_reports(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``leaderboard.json`` and ``report.html`` into ``out_dir``; return their paths."""
    from retailsim.ml.train import save_json

    out_dir.mkdir(parents=True, exist_ok=True)
    j = out_dir / LEADERBOARD_JSON
    save_json(report, j)
    h = out_dir / REPORT_HTML
    h.write_text(render_html(json.loads(j.read_text(encoding="utf-8"))), encoding="utf-8")
    return {"json": j, "html": h}


def _table(rows: list[dict[str, Any]], champion: str) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _, _ in COLUMNS) + "<th>notes</th>"
    body = []
    for r in rows:
        cls = (
            ' class="champion"'
            if r["model"] == champion
            else (' class="oracle"' if r["model"] == "oracle" else "")
        )
        cells = "".join(f"<td>{html.escape(fmt(r.get(k), f))}</td>" for k, _, _, f in COLUMNS)
        body.append(f"<tr{cls}>{cells}<td>{html.escape(str(r.get('notes', '')))}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figures(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report's Plotly figures as (title, figure): leaderboard, calibration, residuals by segment, feature
    importance, P(buy) calibration and interval coverage (the dashboard's Models page shows them too)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs: list[tuple[str, Any]] = []
    lb = [r for r in report["leaderboard"] if r.get("rmse") is not None]
    champion = report["champion"]
    names = [r["model"] for r in lb]
    colors = ["#d62728" if n == champion else ("#7f7f7f" if n == "oracle" else "#1f77b4") for n in names]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("RMSE on the test cutoff (lower is better)", "normalised Gini (higher is better)"),
    )
    fig.add_bar(x=names, y=[r["rmse"] for r in lb], marker_color=colors, showlegend=False, row=1, col=1)
    fig.add_bar(x=names, y=[r["gini"] for r in lb], marker_color=colors, showlegend=False, row=1, col=2)
    fig.update_layout(height=380, margin={"t": 40})
    figs.append(("Leaderboard", fig))

    fig = go.Figure()
    show = [champion, *[n for n in ("last30", "bgnbd", "oracle") if n in report["metrics"] and n != champion]]
    top = 0.0
    for n in show:
        cal = report["metrics"][n]["test"]["calibration"]
        xs = [c["mean_pred"] for c in cal]
        fig.add_scatter(x=xs, y=[c["mean_actual"] for c in cal], mode="lines+markers", name=n)
        top = max([top, *xs, *[c["mean_actual"] for c in cal]])
    fig.add_scatter(
        x=[0, top], y=[0, top], mode="lines", name="perfect", line={"dash": "dot", "color": "grey"}
    )
    fig.update_layout(
        title="Calibration by predicted decile (test cutoff)",
        xaxis_title="mean predicted spend",
        yaxis_title="mean actual spend",
        height=420,
    )
    figs.append(("Calibration", fig))

    segs = report.get("segments", {})
    if segs:
        fig = make_subplots(rows=1, cols=len(segs), subplot_titles=list(segs))
        for i, (name, rows) in enumerate(segs.items(), start=1):
            fig.add_bar(
                x=[r["segment"] for r in rows],
                y=[r["mean_residual"] for r in rows],
                name=name,
                showlegend=False,
                hovertext=[
                    f"n={r['n']}, actual={r['mean_actual']:.2f}, pred={r['mean_pred']:.2f}, RMSE={r['rmse']:.2f}"
                    for r in rows
                ],
                row=1,
                col=i,
            )
        fig.update_layout(
            title=f"Mean residual (predicted − actual) of {champion} by segment, test cutoff", height=400
        )
        figs.append(("Residuals by segment", fig))

    imp = report.get("importance", {})
    values = list((imp.get("values") or {}).items())[:25]
    if values:
        fig = go.Figure(
            go.Bar(x=[v for _, v in values][::-1], y=[k for k, _ in values][::-1], orientation="h")
        )
        fig.update_layout(
            title=f"Feature importance ({imp.get('model')})",
            height=max(300, 22 * len(values)),
            margin={"l": 200},
        )
        figs.append(("Feature importance", fig))

    unc = report.get("uncertainty", {}).get("test")
    if unc:
        fig = make_subplots(
            rows=1,
            cols=2,
            subplot_titles=("P(buy) calibration", "interval coverage by predicted upper-bound decile"),
        )
        cal = unc["p_buy_calibration"]
        fig.add_scatter(
            x=[c["mean_p"] for c in cal],
            y=[c["rate"] for c in cal],
            mode="lines+markers",
            name="P(buy)",
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": "grey"},
            name="perfect",
            row=1,
            col=1,
        )
        cov = unc["coverage_by_upper_decile"]
        fig.add_bar(
            x=[c["decile"] for c in cov], y=[c["coverage"] for c in cov], name="coverage", row=1, col=2
        )
        fig.add_scatter(
            x=[1, 10],
            y=[unc["interval_nominal"]] * 2,
            mode="lines",
            line={"dash": "dot", "color": "grey"},
            name="nominal",
            row=1,
            col=2,
        )
        fig.update_layout(height=400)
        figs.append(("P(buy) and interval", fig))
    return figs


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page with every chart inlined (works offline)."""
    champion = report["champion"]
    parts = []
    try:
        figs = figures(report)
    except ImportError:  # plotly missing: tables only
        figs = []
    for i, (title, fig) in enumerate(figs):
        parts.append(f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=i == 0))
    unc = report.get("uncertainty", {}).get("test", {})
    feats = report.get("features", {})
    left = feats.get("left_out", {})
    c = report["cutoffs"]
    ds = report["dataset"]
    summary = [
        f"<p>Dataset <code>{html.escape(ds['path'])}</code> ({html.escape(ds['kind'])}, manifest SHA-256 "
        f"<code>{ds['manifest_sha256'][:16]}…</code>). Label: net spend in the {c['horizon_days']} days after the cutoff.</p>",
        f"<p>Training cutoffs {', '.join(c['train'])}; validation cutoff {c['validation']} (champion picked here: "
        f"<b>{html.escape(champion)}</b>, {html.escape(report['champion_rule'])}); test cutoff {c['test']} (reported below). "
        f"Rows: {report['rows']['train']:,} / {report['rows']['validation']:,} / {report['rows']['test']:,}; "
        f"share with zero spend in the test window: {fmt(report['zero_share']['test'], '.1%')}.</p>",
    ]
    if unc:
        summary.append(
            f"<p>P(buy): Brier {fmt(unc['brier'], '.4f')} (base rate alone {fmt(unc['brier_base_rate'], '.4f')}); "
            f"{fmt(unc['interval_nominal'], '.0%')} interval: empirical coverage {fmt(unc['interval_coverage'], '.1%')} "
            f"(model-implied {fmt(unc.get('interval_expected_coverage'), '.1%')}: where not buying alone is likelier than "
            f"the nominal level the interval is [0, 0]), mean width {fmt(unc['interval_mean_width'], '.2f')}.</p>"
        )
    if left:
        items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in left.items())
        summary.append(f"<p>Feature groups left out:</p><ul>{items}</ul>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        "tr.champion{background:#fde8e8;font-weight:bold}tr.oracle{color:#666;font-style:italic}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>retailsim — spend prediction report</title>"
        f"<style>{style}</style></head><body><h1>Next-{c['horizon_days']}-day spend: backtest report</h1>"
        + "".join(summary)
        + "<h2>Leaderboard (test cutoff)</h2>"
        + _table(report["leaderboard"], champion)
        + "".join(parts)
        + "</body></html>"
    )
