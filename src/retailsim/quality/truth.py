"""Score a validation report against the injected truth (``truth/defects.parquet``).

A truth row is *caught* when some finding names its (table, row key); a finding is a *false alarm* when its
(table, row key) is not in the truth. Recall = caught / injected, precision = true findings / all flagged
rows (rows counted once per table and key, whatever the number of rules or copies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from retailsim.errors import DatasetError
from retailsim.quality.report import QualityReport
from retailsim.storage.dataset import Dataset


@dataclass
class KindScore:
    """Counts of one defect kind."""

    injected: int = 0
    caught: int = 0
    by_expected_rule: int = 0  # caught by a rule of the family expected for the kind
    rules: set[str] = field(default_factory=set)

    @property
    def missed(self) -> int:
        return self.injected - self.caught


@dataclass
class Scorecard:
    """Recall and precision of one run against the truth, per kind."""

    kinds: dict[str, KindScore]
    flagged_rows: int
    false_alarms: int
    false_alarm_rules: dict[str, int]
    missed_keys: list[tuple[str, str, str]]  # (kind, table, key), the first few

    @property
    def injected(self) -> int:
        return sum(k.injected for k in self.kinds.values())

    @property
    def caught(self) -> int:
        return sum(k.caught for k in self.kinds.values())

    @property
    def recall(self) -> float:
        return self.caught / self.injected if self.injected else 1.0

    @property
    def precision(self) -> float:
        return (self.flagged_rows - self.false_alarms) / self.flagged_rows if self.flagged_rows else 1.0

    def rows(self) -> list[dict[str, Any]]:
        """The matrix: one row per kind (injected, caught, missed, caught by the expected rule, rules)."""
        out = [
            {
                "kind": kind,
                "injected": s.injected,
                "caught": s.caught,
                "missed": s.missed,
                "expected_rule": s.by_expected_rule,
                "rules": ", ".join(sorted(s.rules)),
            }
            for kind, s in sorted(self.kinds.items())
        ]
        out.append(
            {
                "kind": "(no defect)",
                "injected": 0,
                "caught": 0,
                "missed": 0,
                "false_alarms": self.false_alarms,
                "rules": ", ".join(f"{r}×{n}" for r, n in sorted(self.false_alarm_rules.items())),
            }
        )
        return out

    def text(self) -> str:
        """Plain-text matrix (kind × injected / caught / missed / false alarms)."""
        lines = [f"{'kind':26} {'injected':>8} {'caught':>7} {'missed':>7} {'false alarms':>13}"]
        for kind, s in sorted(self.kinds.items()):
            lines.append(f"{kind:26} {s.injected:8d} {s.caught:7d} {s.missed:7d} {'':>13}")
        lines.append(f"{'(rows without a defect)':26} {'':>8} {'':>7} {'':>7} {self.false_alarms:13d}")
        lines.append(
            f"recall {self.recall:.4f} ({self.caught}/{self.injected}), precision {self.precision:.4f} "
            f"({self.flagged_rows - self.false_alarms}/{self.flagged_rows} flagged rows)"
        )
        return "\n".join(lines)


def load_truth(ds: Dataset) -> pa.Table:
    """``truth/defects.parquet`` of a dataset generated with ``--defects``.

    Raises
    ------
    DatasetError
        When the dataset has no defect truth.
    """
    if not ds.has("defects"):
        raise DatasetError(f"{ds.path} has no truth/defects (generate it with --defects)")
    return ds.read("defects")


def score(report: QualityReport, truth: pa.Table | Dataset) -> Scorecard:
    """Compare ``report.findings`` with the defect truth.

    Parameters
    ----------
    report
        The result of :func:`~retailsim.quality.engine.run_validation` on the damaged dataset.
    truth
        The truth table, or the dataset holding it.
    """
    from retailsim.quality.defects import EXPECTED_RULES

    if isinstance(truth, Dataset):
        truth = load_truth(truth)
    f = report.findings
    found: dict[tuple[str, str], set[str]] = {}
    tn, rk, rid = (f.column(c).to_pylist() for c in ("table_name", "row_key", "rule_id"))
    for t, k, r in zip(tn, rk, rid, strict=True):  # findings are few (the failing rows only)
        found.setdefault((t, k), set()).add(r)
    kinds: dict[str, KindScore] = {}
    truth_keys: set[tuple[str, str]] = set()
    missed: list[tuple[str, str, str]] = []
    cols = [truth.column(c).to_pylist() for c in ("table_name", "row_key", "kind")]
    for t, k, kind in zip(*cols, strict=True):
        truth_keys.add((t, k))
        s = kinds.setdefault(kind, KindScore())
        s.injected += 1
        rules = found.get((t, k))
        if rules:
            s.caught += 1
            s.rules |= rules
            if any(p in r for r in rules for p in EXPECTED_RULES.get(kind, ())):
                s.by_expected_rule += 1
        elif len(missed) < 20:
            missed.append((kind, t, k))
    false_rules: dict[str, int] = {}
    false = 0
    for key, rules in found.items():
        if key not in truth_keys:
            false += 1
            for r in rules:
                false_rules[r] = false_rules.get(r, 0) + 1
    return Scorecard(kinds, len(found), false, false_rules, missed)
