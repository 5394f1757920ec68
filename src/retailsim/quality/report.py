"""The result of a validation run: per-rule outcomes, per-table counts, findings, quarantine counts.

:meth:`QualityReport.to_dict` is the stable JSON shape documented in ``docs/quality.md`` (``report_version``
1); fields are only ever added.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from retailsim.quality.rules import Rule

REPORT_VERSION = 1
Status = Literal["passed", "failed", "skipped"]

FINDINGS_SCHEMA = pa.schema(
    [
        pa.field("table_name", pa.string()),
        pa.field("row_key", pa.string()),
        pa.field("rule_id", pa.string()),
        pa.field("severity", pa.string()),
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),
    ]
)


def jsonable(v: Any) -> Any:
    """A value as JSON can hold it (dates as ISO text, NaN as null)."""
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


@dataclass
class RuleResult:
    """Outcome of one rule on one dataset."""

    rule: Rule
    status: Status
    rows_checked: int = 0
    failed: int = 0
    skip_reason: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return max(self.rows_checked - self.failed, 0) if self.status != "skipped" else 0

    def to_dict(self) -> dict[str, Any]:
        r = self.rule
        return {
            "id": r.id,
            "table": r.table,
            "severity": r.severity,
            "category": r.category,
            "description": r.description,
            "sql": r.sql,
            "source": r.source,
            "status": self.status,
            "skip_reason": self.skip_reason,
            "rows_checked": self.rows_checked,
            "passed": self.passed,
            "failed": self.failed,
            "samples": jsonable(self.samples),
        }


@dataclass
class TableResult:
    """Rows of one table and how many of them fail at least one rule."""

    name: str
    rows: int
    failing_rows: int = 0
    files: int = 0


@dataclass
class QuarantineTable:
    """Row accounting of one table: ``clean + quarantined == input``."""

    input: int
    clean: int
    quarantined: int
    own: int  # failed a rule themselves
    followed: int  # quarantined because a row they depend on was


@dataclass
class QuarantineResult:
    """Where the clean dataset went and how every row was accounted for."""

    clean_path: str
    tables: dict[str, QuarantineTable]

    @property
    def balanced(self) -> bool:
        return all(t.clean + t.quarantined == t.input for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "clean_path": self.clean_path,
            "balanced": self.balanced,
            "tables": {k: vars(v) for k, v in self.tables.items()},
        }


@dataclass
class QualityReport:
    """Everything one ``validate`` run found.

    Attributes
    ----------
    dataset
        ``path``, ``format``, ``kind``, ``seed`` (generated), ``rows`` per table.
    as_of
        The moment after which dates count as future.
    results
        One :class:`RuleResult` per rule of the registry, in registry order.
    tables
        Rows and failing rows per data table.
    findings
        Every (failing row, rule) pair: ``table_name, row_key, rule_id, severity, file, row`` (row is the
        1-based record number in ``file``). Not part of the JSON; write it with ``--findings``.
    quarantine
        Set when the run wrote a clean dataset and quarantine files.
    """

    dataset: dict[str, Any]
    as_of: dt.datetime
    started_at: dt.datetime
    elapsed_s: float
    config: dict[str, Any]
    results: list[RuleResult]
    tables: dict[str, TableResult]
    findings: pa.Table = field(default_factory=lambda: FINDINGS_SCHEMA.empty_table())
    quarantine: QuarantineResult | None = None

    @property
    def errors(self) -> list[RuleResult]:
        """Failed rules of severity error."""
        return [r for r in self.results if r.status == "failed" and r.rule.severity == "error"]

    @property
    def warnings(self) -> list[RuleResult]:
        """Failed rules of severity warning."""
        return [r for r in self.results if r.status == "failed" and r.rule.severity == "warning"]

    @property
    def skipped(self) -> list[RuleResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def status(self) -> Literal["passed", "warnings", "failed"]:
        return "failed" if self.errors else "warnings" if self.warnings else "passed"

    @property
    def exit_code(self) -> int:
        """0 clean (warnings allowed), 1 errors found."""
        return 1 if self.errors else 0

    def result(self, rule_id: str) -> RuleResult:
        for r in self.results:
            if r.rule.id == rule_id:
                return r
        raise KeyError(rule_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see ``docs/quality.md``)."""
        from retailsim import __version__

        evaluated = [r for r in self.results if r.status != "skipped"]
        return {
            "report_version": REPORT_VERSION,
            "retailsim_version": __version__,
            "dataset": jsonable(self.dataset),
            "as_of": self.as_of.isoformat(),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "elapsed_s": round(self.elapsed_s, 3),
            "status": self.status,
            "exit_code": self.exit_code,
            "summary": {
                "rules": len(self.results),
                "evaluated": len(evaluated),
                "skipped": len(self.skipped),
                "passed": sum(r.status == "passed" for r in self.results),
                "failed": sum(r.status == "failed" for r in self.results),
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "failing_rows": sum(t.failing_rows for t in self.tables.values()),
            },
            "tables": {k: vars(v) for k, v in self.tables.items()},
            "rules": [r.to_dict() for r in self.results],
            "skipped": [{"id": r.rule.id, "reason": r.skip_reason} for r in self.skipped],
            "quarantine": self.quarantine.to_dict() if self.quarantine else None,
            "config": jsonable(self.config),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
