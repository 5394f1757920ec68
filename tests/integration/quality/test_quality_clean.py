"""Generated data is clean: zero findings in every format; imported logs skip what they do not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from retailsim.config import build_config
from retailsim.fidelity.importer import import_log
from retailsim.generate.runner import generate
from retailsim.quality.engine import run_validation
from retailsim.quality.rules import registry
from retailsim.storage.dataset import Dataset

CDNOW = Path(__file__).parents[2] / "data" / "cdnow_sample" / "cdnow_sample.csv"


def assert_no_findings(ds: Dataset) -> None:
    report = run_validation(ds)
    failed = [(r.rule.id, r.failed, r.samples[:1]) for r in report.results if r.status == "failed"]
    assert failed == [], failed
    assert report.findings.num_rows == 0
    assert report.exit_code == 0 and report.status == "passed"
    assert not report.skipped, [(r.rule.id, r.skip_reason) for r in report.skipped]


def test_tiny_parquet_is_clean(tiny_dataset: Dataset) -> None:
    assert_no_findings(tiny_dataset)


def test_small_parquet_is_clean(small_dataset: Dataset) -> None:
    assert_no_findings(small_dataset)


@pytest.mark.parametrize("fmt", ["csv", "duckdb"])
def test_other_formats_are_clean(tmp_path: Path, fmt: str) -> None:
    ds = generate(build_config("tiny", sets=["seed=9"]), tmp_path / fmt, fmt=fmt)  # type: ignore[arg-type]
    assert_no_findings(ds)


def test_every_rule_runs_on_generated_data(tiny_dataset: Dataset) -> None:
    report = run_validation(tiny_dataset)
    assert {r.rule.id for r in report.results} == {r.id for r in registry(tiny_dataset)}
    assert all(r.rows_checked == tiny_dataset.rows(r.rule.table) for r in report.results)


def test_imported_log_skips_rules_on_absent_columns_and_tables(tmp_path: Path) -> None:
    res = import_log(
        CDNOW,
        tmp_path / "cdnow",
        mapping={"customer_id": "cust", "timestamp": "date", "amount": "dollars", "quantity": "cds"},
        date_format="%Y%m%d",
    )
    report = run_validation(res.dataset)
    skipped = {r.rule.id: r.skip_reason for r in report.skipped}
    assert skipped["stores.pk.unique"] == "table stores not in the dataset"
    assert skipped["transactions.channel.not_null"].startswith("column transactions.channel absent")
    assert skipped["customers.email.pattern"].startswith("column customers.email absent")
    ran = {r.rule.id for r in report.results if r.status != "skipped"}
    assert {
        "transactions.pk.unique",
        "transactions.n_items.matches_lines",
        "transactions.after_signup",
    } <= ran
    # the real log has zero-dollar purchases: a genuine finding, not a crash
    assert report.result("transaction_lines.unit_price.range").failed == 8
    assert report.to_dict()["skipped"], "skipped rules are listed in the JSON"
