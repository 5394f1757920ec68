"""Reports for people: a Rich terminal summary and a self-contained HTML page (no external resources)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from retailsim.quality.report import QualityReport, RuleResult
from retailsim.quality.truth import Scorecard

STATUS_STYLE = {"passed": "bold green", "warnings": "bold yellow", "failed": "bold red"}
STATUS_TEXT = {"passed": "✔ passed", "warnings": "⚠ passed with warnings", "failed": "✘ errors found"}


def _failed_sorted(report: QualityReport) -> list[RuleResult]:
    return sorted(
        (r for r in report.results if r.status == "failed"),
        key=lambda r: (r.rule.severity != "error", -r.failed, r.rule.id),
    )


def print_summary(
    report: QualityReport,
    console: Console,
    *,
    scorecard: Scorecard | None = None,
    max_rules: int = 30,
    show_skipped: int = 12,
) -> None:
    """Print what a run found: failed rules with an example each, counts, skipped rules, quarantine, truth."""
    d = report.dataset
    rows = sum(d["rows"].values())
    console.print(
        f"[bold]validate[/] {d['path']} ({d['format']}, {d['kind']}) — {rows:,} rows in {len(d['rows'])} tables, "
        f"as of {report.as_of:%Y-%m-%d %H:%M}, {report.elapsed_s:.1f} s",
        highlight=False,
    )
    failed = _failed_sorted(report)
    if failed:
        t = Table(title="Failed rules", title_justify="left")
        t.add_column("rule · example (values, file:row)", overflow="fold", ratio=1)
        t.add_column("severity", no_wrap=True)
        t.add_column("failed / rows", justify="right", no_wrap=True)
        for r in failed[:max_rules]:
            ex = r.samples[0] if r.samples else None
            example = f"{ex['detail']} ({ex['file']}:{ex['row']})" if ex else ""
            if len(example) > 160:
                example = example[:157] + "…"
            sev = "[red]error[/]" if r.rule.severity == "error" else "[yellow]warning[/]"
            t.add_row(
                f"[bold]{r.rule.id}[/]\n[dim]{escape(example)}[/]", sev, f"{r.failed:,} / {r.rows_checked:,}"
            )
        console.print(t)
        if len(failed) > max_rules:
            console.print(f"… and {len(failed) - max_rules} more failed rules (see --html / --json)")
    n = len(report.results)
    passed = sum(r.status == "passed" for r in report.results)
    console.print(
        f"{n} rules: [green]{passed} passed[/], {len(failed)} failed "
        f"([red]{len(report.errors)} errors[/], [yellow]{len(report.warnings)} warnings[/]), "
        f"{len(report.skipped)} skipped"
    )
    if report.skipped and show_skipped:
        reasons: dict[str, list[str]] = {}
        for r in report.skipped:
            reasons.setdefault(r.skip_reason or "", []).append(r.rule.id)
        for why, ids in list(reasons.items())[:show_skipped]:
            more = f" … +{len(ids) - 4}" if len(ids) > 4 else ""
            console.print(f"  skipped ({why}): {', '.join(ids[:4])}{more}", highlight=False)
    if report.quarantine:
        qt = Table(title=f"Quarantine → {report.quarantine.clean_path}", title_justify="left")
        for col in ("table", "input", "clean", "quarantined", "own", "followed"):
            qt.add_column(col, justify="left" if col == "table" else "right")
        for name, c in report.quarantine.tables.items():
            qt.add_row(
                name, f"{c.input:,}", f"{c.clean:,}", f"{c.quarantined:,}", f"{c.own:,}", f"{c.followed:,}"
            )
        console.print(qt)
        console.print(
            "clean + quarantined = input: "
            + ("[green]yes[/]" if report.quarantine.balanced else "[red]NO[/]")
        )
    if scorecard is not None:
        print_scorecard(scorecard, console)
    console.print(f"[{STATUS_STYLE[report.status]}]{STATUS_TEXT[report.status]}[/]")


def print_scorecard(sc: Scorecard, console: Console) -> None:
    """The kind × caught / missed / false-alarm matrix against ``truth/defects``."""
    t = Table(title="Against truth/defects", title_justify="left")
    for col in ("defect kind", "injected", "caught", "missed", "false alarms"):
        t.add_column(col, justify="left" if col == "defect kind" else "right")
    for kind, s in sorted(sc.kinds.items()):
        t.add_row(kind, f"{s.injected:,}", f"{s.caught:,}", f"{s.missed:,}", "")
    t.add_row("(rows without a defect)", "", "", "", f"{sc.false_alarms:,}")
    console.print(t)
    console.print(f"recall {sc.recall:.2%} ({sc.caught:,}/{sc.injected:,}), precision {sc.precision:.2%}")


# --------------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2433;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
.meta{color:#5b6475}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.passed{color:#1a7f37}.failed{color:#cf222e}.warnings,.warning{color:#9a6700}
.skipped{color:#6e7781}table{border-collapse:collapse;background:#fff;width:100%;margin:6px 0}
th,td{border:1px solid #e3e6ea;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f1f3f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.fail td{background:#fff5f5}tr.warn td{background:#fffbea}
tr.skip td{color:#6e7781}code{font-size:12px;background:#f1f3f6;padding:1px 4px;border-radius:3px;word-break:break-all}
details{margin:2px 0}summary{cursor:pointer;color:#0969da}.small{font-size:12px}
input#filter{padding:5px 8px;width:320px;border:1px solid #c9ced6;border-radius:6px}
svg.spark{vertical-align:middle}
"""

JS = """
document.getElementById('filter').addEventListener('input',function(e){var q=e.target.value.toLowerCase();
document.querySelectorAll('tr.rule').forEach(function(r){r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':''});});
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _spark(values: Sequence[int]) -> str:
    if len(values) < 2:
        return ""
    w, h = 90, 22
    top = max(values) or 1
    pts = " ".join(
        f"{i * (w - 4) / (len(values) - 1) + 2:.1f},{h - 3 - (v / top) * (h - 6):.1f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><polyline fill="none" '
        f'stroke="#cf222e" stroke-width="1.5" points="{pts}"/></svg>'
    )


def _samples_table(r: RuleResult) -> str:
    if not r.samples:
        return ""
    cols = list(r.samples[0]["values"])
    head = "".join(f"<th>{_e(c)}</th>" for c in ["row key", "file", "row", "detail", *cols])
    body = ""
    for s in r.samples:
        vals = "".join(f"<td>{_e(s['values'].get(c))}</td>" for c in cols)
        body += (
            f"<tr><td><code>{_e(s['row_key'])}</code></td><td class=small>{_e(s['file'])}</td>"
            f"<td class=num>{s['row']}</td><td>{_e(s['detail'])}</td>{vals}</tr>"
        )
    return f"<details><summary>{len(r.samples)} sample failing rows</summary><table class=small><tr>{head}</tr>{body}</table></details>"


def _report_section(report: QualityReport, scorecard: Scorecard | None) -> str:
    d = report.dataset
    doc = report.to_dict()
    s = doc["summary"]
    out = [
        f"<h2>{_e(d['path'])}</h2>",
        f"<p class=meta>{_e(d['format'])}, {_e(d['kind'])}"
        + (f", seed {_e(d['seed'])}" if d.get("seed") is not None else "")
        + f" · as of {report.as_of:%Y-%m-%d %H:%M} · checked {report.started_at:%Y-%m-%d %H:%M} UTC in "
        f"{report.elapsed_s:.1f} s</p>",
        "<div class=cards>",
        f"<div class=card>status<b class={report.status}>{_e(STATUS_TEXT[report.status])}</b></div>",
        f"<div class=card>rules<b>{s['rules']}</b></div>",
        f"<div class=card>passed<b class=passed>{s['passed']}</b></div>",
        f"<div class=card>errors<b class=failed>{s['errors']}</b></div>",
        f"<div class=card>warnings<b class=warnings>{s['warnings']}</b></div>",
        f"<div class=card>skipped<b class=skipped>{s['skipped']}</b></div>",
        f"<div class=card>failing rows<b>{s['failing_rows']:,}</b></div>",
        "</div>",
        "<table><tr><th>table</th><th>rows</th><th>files</th><th>failing rows</th></tr>",
    ]
    for t in report.tables.values():
        out.append(
            f"<tr><td>{_e(t.name)}</td><td class=num>{t.rows:,}</td><td class=num>{t.files:,}</td><td class=num>{t.failing_rows:,}</td></tr>"
        )
    out.append("</table>")
    if report.quarantine:
        q = report.quarantine
        out.append(
            f"<h3>Quarantine → {_e(q.clean_path)} (clean + quarantined = input: {'yes' if q.balanced else 'NO'})</h3>"
        )
        out.append(
            "<table><tr><th>table</th><th>input</th><th>clean</th><th>quarantined</th><th>own</th><th>followed</th></tr>"
        )
        for name, c in q.tables.items():
            out.append(
                f"<tr><td>{_e(name)}</td><td class=num>{c.input:,}</td><td class=num>{c.clean:,}</td>"
                f"<td class=num>{c.quarantined:,}</td><td class=num>{c.own:,}</td><td class=num>{c.followed:,}</td></tr>"
            )
        out.append("</table>")
    if scorecard is not None:
        out.append(
            f"<h3>Against truth/defects: recall {scorecard.recall:.2%}, precision {scorecard.precision:.2%}</h3>"
            "<table><tr><th>defect kind</th><th>injected</th><th>caught</th><th>missed</th><th>caught by</th></tr>"
        )
        for kind, k in sorted(scorecard.kinds.items()):
            out.append(
                f"<tr><td>{_e(kind)}</td><td class=num>{k.injected:,}</td><td class=num>{k.caught:,}</td>"
                f"<td class=num>{k.missed:,}</td><td class=small>{_e(', '.join(sorted(k.rules)))}</td></tr>"
            )
        out.append(
            f"<tr><td>(rows without a defect)</td><td></td><td></td><td></td><td>false alarms: {scorecard.false_alarms:,}</td></tr></table>"
        )
    out.append(
        "<h3>Rules</h3><table><tr><th>rule</th><th>table</th><th>severity</th><th>status</th>"
        "<th>passed</th><th>failed</th><th>description</th></tr>"
    )
    order = {"failed": 0, "passed": 1, "skipped": 2}
    for r in sorted(report.results, key=lambda r: (order[r.status], r.rule.severity != "error", -r.failed)):
        cls = "rule " + (
            "fail"
            if r.status == "failed" and r.rule.severity == "error"
            else "warn"
            if r.status == "failed"
            else "skip"
            if r.status == "skipped"
            else ""
        )
        status = r.status if r.status != "skipped" else f"skipped: {r.skip_reason}"
        out.append(
            f"<tr class='{cls}'><td><code>{_e(r.rule.id)}</code></td><td>{_e(r.rule.table)}</td>"
            f"<td class={r.rule.severity}>{_e(r.rule.severity)}</td><td>{_e(status)}</td>"
            f"<td class=num>{r.passed:,}</td><td class=num>{r.failed:,}</td>"
            f"<td>{_e(r.rule.description)}<details><summary class=small>SQL</summary><code>{_e(r.rule.sql)}</code></details>"
            f"{_samples_table(r)}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _trend(reports: Sequence[QualityReport]) -> str:
    ids = list(dict.fromkeys(r.rule.id for rep in reports for r in rep.results))
    by = [{r.rule.id: r for r in rep.results} for rep in reports]
    rows = []
    for rid in ids:
        vals = [b[rid].failed if rid in b else 0 for b in by]
        if not any(vals):
            continue
        cells = "".join(f"<td class=num>{v:,}</td>" for v in vals)
        rows.append(f"<tr class=rule><td><code>{_e(rid)}</code></td>{cells}<td>{_spark(vals)}</td></tr>")
    head = "".join(f"<th>{_e(rep.dataset['path'])}</th>" for rep in reports)
    if not rows:
        return "<h2>Trend</h2><p>No rule failed in any dataset.</p>"
    return f"<h2>Trend: failed rows per rule</h2><table><tr><th>rule</th>{head}<th>trend</th></tr>{''.join(rows)}</table>"


def render_html(
    reports: QualityReport | Sequence[QualityReport], scorecards: Sequence[Scorecard | None] | None = None
) -> str:
    """One self-contained HTML page (inline CSS and a few lines of JS, no network) for one or more runs.

    With several reports (datasets in the order given, e.g. successive extracts) it opens with a trend table:
    failed rows per rule across the datasets, with a sparkline.
    """
    reps = [reports] if isinstance(reports, QualityReport) else list(reports)
    cards = list(scorecards) if scorecards is not None else [None] * len(reps)
    title = "retailsim data quality" + (
        f" — {reps[0].dataset['path']}" if len(reps) == 1 else f" — {len(reps)} datasets"
    )
    worst = max((r.exit_code for r in reps), default=0)
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=meta>retailsim validate · overall: <b class={'failed' if worst else 'passed'}>"
        f"{'errors found' if worst else 'no errors'}</b> · filter rules: <input id=filter placeholder='rule id, table, text…'></p>",
    ]
    if len(reps) > 1:
        body.append(_trend(reps))
    body += [_report_section(r, c) for r, c in zip(reps, cards, strict=True)]
    data = json.dumps([r.to_dict()["summary"] for r in reps])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{_e(title)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}"
        f"<script type='application/json' id=summary>{_e(data)}</script><script>{JS}</script></body></html>"
    )
