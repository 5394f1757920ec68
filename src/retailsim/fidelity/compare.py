"""Real vs synthetic, side by side: every fact with its relative difference, plots, a self-contained report.

``compare(real, synth)`` computes the facts of both datasets (:mod:`retailsim.fidelity.facts`), the relative
difference of every scalar fact, and checks the facts a synthetic twin is judged on (:data:`TWIN_FACTS`)
against a tolerance (10% by default). :meth:`Comparison.to_html` renders one HTML file with the table and
Plotly charts of the distributions (frequency histogram, inter-purchase times, Lorenz curve, weekly and yearly
profiles, cohort retention, basket sizes); plotly.js is embedded once, inline, so the file opens offline. A
train-on-synthetic / test-on-real check runs when the ML capability provides one
(:mod:`retailsim.fidelity.tstr`).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retailsim.errors import RetailsimError
from retailsim.fidelity.facts import (
    FACT_INDEX,
    FACTS,
    Fact,
    FactReport,
    FactValue,
    compute_facts,
    format_value,
)
from retailsim.fidelity.tstr import TSTRResult, run_tstr
from retailsim.storage.dataset import Dataset

TWIN_FACTS: tuple[str, ...] = (
    "one_time_buyer_share",
    "purchases_per_customer_mean",
    "purchases_per_customer_median",
    "top20_revenue_share",
    "median_interpurchase_days",
    "transaction_value_mean",
    "cohort_retention_3m",
)
"""Facts a calibrated twin must reproduce (within :data:`TWIN_TOLERANCE`, relative) — the issue's acceptance."""
TWIN_TOLERANCE = 0.10

REAL_COLOUR, SYNTH_COLOUR = "#1f77b4", "#ff7f0e"


@dataclass(frozen=True)
class FactRow:
    """One scalar fact of both datasets."""

    fact: Fact
    real: float | int | None
    synth: float | int | None
    rel_diff: float | None  # (synth − real) / |real|
    checked: bool
    ok: bool | None  # None: not checked or not available


@dataclass
class Comparison:
    """The facts of a real and a synthetic dataset side by side."""

    real: FactReport
    synth: FactReport
    rows: list[FactRow]
    tolerance: float
    tstr: TSTRResult | None = None
    tstr_note: str = ""
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def checked(self) -> list[FactRow]:
        return [r for r in self.rows if r.checked]

    @property
    def failures(self) -> list[FactRow]:
        """Checked facts outside the tolerance (or missing on one side)."""
        return [r for r in self.checked if r.ok is False]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: both fact reports, the rows, the check and the TSTR result."""
        return {
            "real": self.real.to_dict(),
            "synthetic": self.synth.to_dict(),
            "tolerance": self.tolerance,
            "passed": self.passed,
            "rows": [
                {
                    "fact": r.fact.id,
                    "label": r.fact.label,
                    "real": r.real,
                    "synthetic": r.synth,
                    "rel_diff": r.rel_diff,
                    "checked": r.checked,
                    "ok": r.ok,
                }
                for r in self.rows
            ],
            "tstr": None
            if self.tstr is None
            else {"summary": self.tstr.summary, "metrics": self.tstr.metrics, "details": self.tstr.details},
            "tstr_note": self.tstr_note,
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        _write_text(Path(path), json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    def write_html(self, path: str | Path) -> None:
        """Write :meth:`to_html` (one self-contained file)."""
        _write_text(Path(path), self.to_html())

    def to_html(self) -> str:
        """The report: facts table, twin check, plots (plotly.js inline once) and the TSTR section."""
        return _render_html(self)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def relative_difference(real: FactValue, synth: FactValue) -> float | None:
    """``(synth − real) / |real|``; None when either is not a number or ``real`` is 0."""
    if isinstance(real, dict) or isinstance(synth, dict) or real is None or synth is None or real == 0:
        return None
    return (float(synth) - float(real)) / abs(float(real))


def compare_reports(
    real: FactReport,
    synth: FactReport,
    *,
    tolerance: float = TWIN_TOLERANCE,
    checked: tuple[str, ...] = TWIN_FACTS,
) -> Comparison:
    """Side-by-side rows of two fact reports, with ``checked`` facts held to ``tolerance``."""
    rows = []
    for f in FACTS:
        if f.kind != "scalar":
            continue
        a, b = real.get(f.id), synth.get(f.id)
        assert not isinstance(a, dict) and not isinstance(b, dict)
        rel = relative_difference(a, b)
        is_checked = f.id in checked
        ok: bool | None = None
        if is_checked:
            ok = rel is not None and abs(rel) <= tolerance + 1e-12
        rows.append(FactRow(f, a, b, rel, is_checked, ok))
    return Comparison(real, synth, rows, tolerance)


def compare(
    real: Dataset,
    synth: Dataset,
    *,
    tolerance: float = TWIN_TOLERANCE,
    checked: tuple[str, ...] = TWIN_FACTS,
    tstr: bool = True,
) -> Comparison:
    """Compute both datasets' facts and compare them.

    Parameters
    ----------
    real, synth
        The real (usually imported) and the synthetic dataset.
    tolerance
        Largest relative difference a checked fact may have.
    checked
        Facts to check (default :data:`TWIN_FACTS`).
    tstr
        Run the train-on-synthetic / test-on-real check if the ML capability provides one.

    Returns
    -------
    Comparison
        Rows, check result, and the data the report plots.
    """
    unknown = [c for c in checked if c not in FACT_INDEX]
    if unknown:
        raise RetailsimError(f"unknown fact(s) to check: {', '.join(unknown)}")
    result = compare_reports(compute_facts(real), compute_facts(synth), tolerance=tolerance, checked=checked)
    if tstr:
        result.tstr, result.tstr_note = run_tstr(real, synth)
    else:
        result.tstr_note = "not run (--no-tstr)"
    return result


# --------------------------------------------------------------------------------------------------------
# HTML report
# --------------------------------------------------------------------------------------------------------

_PLOTS: tuple[tuple[str, str, str, str], ...] = (
    # fact id, title, x label, y label
    ("frequency_distribution", "Purchase frequency", "transactions per customer", "share of customers"),
    ("interpurchase_distribution", "Inter-purchase times", "days between purchases", "share of gaps"),
    (
        "lorenz_curve",
        "Lorenz curve of customer revenue",
        "share of customers (least revenue first)",
        "share of revenue",
    ),
    ("weekday_profile", "Weekly profile", "weekday", "share of transactions"),
    ("monthly_profile", "Yearly profile", "month", "share (per observed day)"),
    ("cohort_retention_curve", "Cohort retention", "months after signup month", "share of cohort active"),
    ("basket_size_distribution", "Basket sizes", "units per transaction", "share of transactions"),
    ("category_shares", "Category shares", "department", "share of revenue"),
)


def _figure(cmp: Comparison, fact_id: str, title: str, xlab: str, ylab: str) -> Any:
    import plotly.graph_objects as go

    a, b = cmp.real.get(fact_id), cmp.synth.get(fact_id)
    if not isinstance(a, dict) and not isinstance(b, dict):
        return None
    fig = go.Figure()
    line = fact_id in ("lorenz_curve", "cohort_retention_curve")
    for name, values, colour in (("real", a, REAL_COLOUR), ("synthetic", b, SYNTH_COLOUR)):
        if not isinstance(values, dict):
            continue
        if fact_id == "cohort_retention_curve":  # month 0 is 100% by definition: start at month 1
            values = {k: v for k, v in values.items() if k != "0"}
        xs, ys = list(values), list(values.values())
        if line:
            fig.add_trace(
                go.Scatter(
                    x=[float(x) for x in xs], y=ys, name=name, mode="lines+markers", line={"color": colour}
                )
            )
        else:
            fig.add_trace(go.Bar(x=xs, y=ys, name=name, marker_color=colour))
    if fact_id == "lorenz_curve":
        fig.add_trace(
            go.Scatter(
                x=[0, 1], y=[0, 1], name="equality", mode="lines", line={"color": "#999", "dash": "dot"}
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title=xlab,
        yaxis_title=ylab,
        barmode="group",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
        template="plotly_white",
    )
    if fact_id != "lorenz_curve":
        fig.update_yaxes(tickformat=".0%")
    return fig


def _fmt_rel(rel: float | None) -> str:
    return "" if rel is None else f"{rel:+.1%}"


_CSS = """
body { font-family: -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.checked td { font-weight: 600; }
.ok { color: #1a7f37; } .out { color: #cf222e; } .na { color: #888; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: white; font-weight: 600; }
.badge.ok { background: #1a7f37; color: white; } .badge.out { background: #cf222e; color: white; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.meta { color: #555; font-size: 0.9em; }
"""


def _render_html(cmp: Comparison) -> str:
    esc = html.escape
    r, s = cmp.real, cmp.synth
    verdict = (
        f'<span class="badge ok">twin check passed</span> every checked fact within ±{cmp.tolerance:.0%}'
        if cmp.passed
        else f'<span class="badge out">twin check failed</span> {len(cmp.failures)} checked fact(s) outside '
        f"±{cmp.tolerance:.0%}: " + ", ".join(esc(f.fact.label) for f in cmp.failures)
    )
    rows = []
    for row in cmp.rows:
        status = ""
        if row.checked:
            cls = "ok" if row.ok else "out"
            status = f'<span class="{cls}">{"✓" if row.ok else "✗"}</span>'
        rel_cls = "na" if row.rel_diff is None else ("out" if row.checked and not row.ok else "")
        rows.append(
            f'<tr class="{"checked" if row.checked else ""}" title="{esc(row.fact.definition)}">'
            f"<td>{esc(row.fact.label)}</td><td>{esc(format_value(row.fact, row.real))}</td>"
            f"<td>{esc(format_value(row.fact, row.synth))}</td>"
            f'<td class="{rel_cls}">{_fmt_rel(row.rel_diff)}</td><td>{status}</td></tr>'
        )
    figures = []
    js_done = False
    for fact_id, title, xlab, ylab in _PLOTS:
        fig = _figure(cmp, fact_id, title, xlab, ylab)
        if fig is None:
            continue
        figures.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=not js_done,  # the whole library, inline, once: the file opens offline
                config={"displaylogo": False, "responsive": True},
            )
        )
        js_done = True
    if cmp.tstr is not None:
        metrics = "".join(f"<tr><td>{esc(k)}</td><td>{v:,.4g}</td></tr>" for k, v in cmp.tstr.metrics.items())
        tstr = f"<p>{esc(cmp.tstr.summary)}</p><table>{metrics}</table>"
    else:
        tstr = f'<p class="na">{esc(cmp.tstr_note)}</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>retailsim: real vs synthetic</title>
<style>{_CSS}</style></head><body>
<h1>Real vs synthetic</h1>
<p class="meta">real: <code>{esc(r.dataset)}</code> ({esc(r.kind)}, {r.start} – {r.end - dt.timedelta(days=1)})<br>
synthetic: <code>{esc(s.dataset)}</code> ({esc(s.kind)}, {s.start} – {s.end - dt.timedelta(days=1)})<br>
written by retailsim compare, {esc(cmp.created)}</p>
<p>{verdict}</p>
<h2>Facts</h2>
<p class="meta">Relative difference = (synthetic − real) / |real|. Bold rows are the facts a calibrated twin is
checked on. Hover a row for its definition; n/a = the dataset cannot support the fact.</p>
<table><thead><tr><th>fact</th><th>real</th><th>synthetic</th><th>rel. diff.</th><th>check</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Distributions</h2>
<div class="grid">{"".join(f"<div>{f}</div>" for f in figures)}</div>
<h2>Train on synthetic, test on real</h2>
{tstr}
</body></html>
"""
