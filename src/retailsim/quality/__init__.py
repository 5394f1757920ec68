"""Data quality: contracts from the schema, cross-table rules, labelled defects, quarantine, reports.

Public API (imported lazily, so ``import retailsim.quality`` costs nothing):

>>> from retailsim.quality import registry, run_validation, check_records
>>> rules = registry(ds)                      # list[Rule]: id, table, severity, description, sql  # doctest: +SKIP
>>> report = run_validation(ds)               # QualityReport; .to_json(), .exit_code, .findings   # doctest: +SKIP
>>> accepted, rejected = check_records(ds, "customers", df)                                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = (
    "CheckResult",
    "DefectSpec",
    "QualityConfig",
    "QualityReport",
    "Rule",
    "RuleResult",
    "Scorecard",
    "check_records",
    "inject_defects",
    "load_quality_config",
    "load_user_rules",
    "pandera_schema",
    "registry",
    "render_html",
    "run_validation",
    "score",
)

if TYPE_CHECKING:
    from retailsim.quality.config import QualityConfig, load_quality_config
    from retailsim.quality.defects import DefectSpec, inject_defects
    from retailsim.quality.engine import run_validation
    from retailsim.quality.pandera_contracts import pandera_schema
    from retailsim.quality.records import CheckResult, check_records
    from retailsim.quality.render import render_html
    from retailsim.quality.report import QualityReport, RuleResult
    from retailsim.quality.rules import Rule, load_user_rules, registry
    from retailsim.quality.truth import Scorecard, score

_LAZY = {
    "QualityConfig": "config",
    "load_quality_config": "config",
    "DefectSpec": "defects",
    "inject_defects": "defects",
    "run_validation": "engine",
    "pandera_schema": "pandera_contracts",
    "CheckResult": "records",
    "check_records": "records",
    "render_html": "render",
    "QualityReport": "report",
    "RuleResult": "report",
    "Rule": "rules",
    "load_user_rules": "rules",
    "registry": "rules",
    "Scorecard": "truth",
    "score": "truth",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"retailsim.quality.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'retailsim.quality' has no attribute {name!r}")
