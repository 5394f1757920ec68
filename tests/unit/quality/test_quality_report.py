"""The JSON report keeps its documented shape; the HTML page is self-contained."""

from __future__ import annotations

import datetime as dt
import json

from retailsim.quality.config import QualityConfig
from retailsim.quality.render import render_html
from retailsim.quality.report import QualityReport, RuleResult, TableResult
from retailsim.quality.rules import registry

TOP = {
    "report_version",
    "retailsim_version",
    "dataset",
    "as_of",
    "started_at",
    "elapsed_s",
    "status",
    "exit_code",
    "summary",
    "tables",
    "rules",
    "skipped",
    "quarantine",
    "config",
}
RULE = {
    "id",
    "table",
    "severity",
    "category",
    "description",
    "sql",
    "source",
    "status",
    "skip_reason",
    "rows_checked",
    "passed",
    "failed",
    "samples",
}


def _report() -> QualityReport:
    rules = registry(None)
    results = [RuleResult(r, "passed", rows_checked=10) for r in rules]
    results[0] = RuleResult(
        rules[0],
        "failed",
        rows_checked=10,
        failed=2,
        samples=[
            {
                "row_key": "1",
                "file": "stores/part-00000.csv",
                "row": 1,
                "detail": "<script>x</script>",
                "values": {"store_id": 1, "d": dt.date(2024, 1, 1)},
            }
        ],
    )
    results[1] = RuleResult(rules[1], "skipped", skip_reason="column stores.x absent from the dataset")
    return QualityReport(
        dataset={"path": "/data/x", "format": "csv", "kind": "generated", "seed": 1, "rows": {"stores": 10}},
        as_of=dt.datetime(2025, 7, 1),
        started_at=dt.datetime(2025, 7, 2, tzinfo=dt.UTC),
        elapsed_s=1.5,
        config=QualityConfig().model_dump(mode="json"),
        results=results,
        tables={"stores": TableResult("stores", 10, 2, 1)},
    )


def test_json_shape() -> None:
    r = _report()
    doc = json.loads(r.to_json())
    assert set(doc) == TOP
    assert set(doc["rules"][0]) == RULE
    assert doc["summary"] == {
        "rules": len(r.results),
        "evaluated": len(r.results) - 1,
        "skipped": 1,
        "passed": len(r.results) - 2,
        "failed": 1,
        "errors": 1,
        "warnings": 0,
        "failing_rows": 2,
    }
    assert doc["skipped"] == [
        {"id": r.results[1].rule.id, "reason": "column stores.x absent from the dataset"}
    ]
    assert doc["rules"][0]["samples"][0]["values"]["d"] == "2024-01-01"
    assert r.exit_code == 1 and doc["status"] == "failed"


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html([_report(), _report()])
    assert page.startswith("<!doctype html>")
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    for ref in ("http://", "https://", "src=", "<link"):
        assert ref not in page
    assert "Trend" in page
