"""`retailsim validate`: exit codes 0 / 1 / 2, reports, findings; `generate --defects`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from retailsim.cli import app
from retailsim.storage.dataset import Dataset

runner = CliRunner()


def validate(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["validate", *args])
    return res.exit_code, " ".join(res.output.split())  # Rich wraps long lines


def test_clean_dataset_exits_0_with_reports(tiny_dataset: Dataset, tmp_path: Path) -> None:
    code, output = validate(
        str(tiny_dataset.path), "--html", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")
    )
    assert code == 0, output
    assert "passed" in output
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["report_version"] == 1 and doc["exit_code"] == 0 and doc["status"] == "passed"
    assert set(doc) >= {"dataset", "as_of", "summary", "tables", "rules", "skipped", "quarantine", "config"}
    rule = doc["rules"][0]
    assert set(rule) >= {
        "id",
        "table",
        "severity",
        "category",
        "description",
        "sql",
        "status",
        "passed",
        "failed",
        "samples",
    }
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<html" in html and "transactions.after_signup" in html
    assert "http://" not in html and "https://" not in html, "self-contained: opens offline"


def test_defects_exit_1_and_report_the_truth_matrix(defective_parquet: Dataset, tmp_path: Path) -> None:
    code, output = validate(
        str(defective_parquet.path),
        "--findings",
        str(tmp_path / "f.parquet"),
        "--json",
        str(tmp_path / "r.json"),
    )
    assert code == 1, output
    assert "Against truth/defects" in output and "recall 100.00%" in output and "precision 100.00%" in output
    findings = pq.read_table(tmp_path / "f.parquet")
    assert findings.num_rows > 0 and set(findings.column_names) >= {
        "table_name",
        "row_key",
        "rule_id",
        "file",
        "row",
    }
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    failed = [r for r in doc["rules"] if r["status"] == "failed"]
    assert failed and all(
        r["samples"] and r["samples"][0]["file"] and r["samples"][0]["row"] >= 1 for r in failed
    )


def test_csv_cell_reported_with_file_row_and_column(defective_csv: Dataset, tmp_path: Path) -> None:
    code, _ = validate(str(defective_csv.path), "--json", str(tmp_path / "r.json"), "-q")
    assert code == 1
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    parse = [r for r in doc["rules"] if r["id"].endswith(".cells.parse") and r["failed"]]
    assert parse
    s = parse[0]["samples"][0]
    assert s["file"].endswith(".csv") and s["row"] >= 1 and "cannot parse" in s["detail"]
    truth = defective_csv.read("defects").to_pylist()
    cell = next(t for t in truth if t["kind"] == "unparseable_cell")
    assert cell["column"] and cell["file"].endswith(".csv")


def test_quarantine_from_the_command_line(defective_parquet: Dataset, tmp_path: Path) -> None:
    code, output = validate(
        str(defective_parquet.path), "--quarantine", "--clean-out", str(tmp_path / "clean")
    )
    assert code == 1 and "clean + quarantined = input: yes" in output
    assert validate(str(tmp_path / "clean"), "-q")[0] == 0


def test_missing_dataset_exits_2(tmp_path: Path) -> None:
    code, output = validate(str(tmp_path / "nope"))
    assert code == 2 and "not found" in output


def test_unreadable_parquet_exits_2(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    shutil.copytree(tiny_dataset.path, ds)
    victim = next((ds / "customers").glob("*.parquet"))
    victim.write_bytes(b"not parquet at all")
    code, output = validate(str(ds))
    assert code == 2 and "unreadable Parquet file customers/" in output


def test_schema_mismatch_exits_2(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    shutil.copytree(tiny_dataset.path, ds)
    victim = next((ds / "stores").glob("*.parquet"))
    pq.write_table(pq.read_table(victim).drop_columns(["opened_date"]), victim)
    code, output = validate(str(ds))
    assert code == 2 and "schema mismatch" in output and "opened_date" in output


def test_missing_file_exits_2(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    shutil.copytree(tiny_dataset.path, ds)
    next((ds / "products").glob("*.parquet")).unlink()
    code, output = validate(str(ds))
    assert code == 2 and "missing" in output


def test_user_rules_and_config(tiny_dataset: Dataset, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: big_basket\n    table: transactions\n    severity: warning\n"
        "    description: Baskets of more than 10 items.\n    fail_if: n_items > 10\n"
        "  - id: long_name\n    table: customers\n    fail_if: length(last_name) > 3\n",
        encoding="utf-8",
    )
    code, output = validate(str(tiny_dataset.path), "--rules", str(rules), "--json", str(tmp_path / "r.json"))
    assert code == 1, output  # long_name is an error rule and fails
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in doc["rules"]}
    assert by_id["big_basket"]["status"] == "failed" and by_id["big_basket"]["severity"] == "warning"
    assert by_id["long_name"]["category"] == "user"
    cfg = tmp_path / "q.yaml"
    cfg.write_text("age: {min: 16, max: 40}\n", encoding="utf-8")
    code, output = validate(str(tiny_dataset.path), "--config", str(cfg))
    assert code == 1 and "customers.age.range" in output
    code, output = validate(str(tiny_dataset.path), "--set", "ranges.transaction_lines.quantity.max=1")
    assert code == 1 and "transaction_lines.quantity.range" in output


@pytest.mark.parametrize(
    ("rules_text", "message"),
    [
        ("rules:\n  - id: x\n    table: nope\n    fail_if: a > 1\n", "unknown table"),
        ("rules:\n  - id: x\n    table: customers\n    fail_if: no_such_column > 1\n", "does not compile"),
        ("rules:\n  - id: customers.pk.unique\n    table: customers\n    fail_if: FALSE\n", "used twice"),
    ],
)
def test_bad_rules_exit_2(tiny_dataset: Dataset, tmp_path: Path, rules_text: str, message: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text, encoding="utf-8")
    code, output = validate(str(tiny_dataset.path), "--rules", str(rules))
    assert code == 2 and message in output, output


def test_several_datasets_give_a_trend(
    tiny_dataset: Dataset, defective_parquet: Dataset, tmp_path: Path
) -> None:
    code, _ = validate(
        str(tiny_dataset.path), str(defective_parquet.path), "--html", str(tmp_path / "t.html"), "-q"
    )
    assert code == 1
    html = (tmp_path / "t.html").read_text(encoding="utf-8")
    assert "Trend" in html and "<svg" in html


def test_generate_with_defects(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = runner.invoke(
        app,
        [
            "generate",
            "--preset",
            "tiny",
            "--seed",
            "2",
            "--out",
            str(out),
            "-q",
            "--defects",
            "rate=0.02,kinds=invalid_email,bad_quantity",
        ],
    )
    assert res.exit_code == 0, res.output
    ds = Dataset(out)
    assert ds.manifest["defects"]["kinds"] == ["invalid_email", "bad_quantity"]
    assert set(ds.read("defects").column("kind").to_pylist()) <= {"invalid_email", "bad_quantity"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--defects", "rate=2"], "rate must be in"),
        (["--defects", "rate=0.1,kinds=nonsense"], "unknown kind"),
        (["--defects", "rate=0.1", "--format", "duckdb"], "parquet or csv"),
        (["--defects", "rate=0.1,kinds=unparseable_cell"], "needs --format csv"),
    ],
)
def test_bad_defect_specs_leave_no_output(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "ds"
    res = runner.invoke(app, ["generate", "--preset", "tiny", "--out", str(out), "-q", *args])
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output
    assert not out.exists()
