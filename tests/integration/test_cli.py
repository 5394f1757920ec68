"""The command line, in-process (Typer's CliRunner) and as `python -m retailsim`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from retailsim import schema
from retailsim.cli import app
from retailsim.storage.dataset import Dataset

runner = CliRunner()


def test_generate_prints_summary_and_facts(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = runner.invoke(app, ["generate", "--preset", "tiny", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "one-time-buyer share" in res.output and "transaction_lines" in res.output
    assert Dataset(out).manifest["seed"] == 3


def test_bad_config_gives_one_clear_error_and_no_output(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = runner.invoke(
        app, ["generate", "--preset", "tiny", "--out", str(out), "--set", "customers.count=-1"]
    )
    assert res.exit_code == 2
    assert "customers.count" in res.output and "Traceback" not in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_format_and_existing_folder(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["generate", "--preset", "tiny", "--out", str(tmp_path / "x"), "--format", "xlsx"]
    )
    assert res.exit_code == 2 and "--format" in res.output
    (tmp_path / "taken").mkdir()
    res = runner.invoke(app, ["generate", "--preset", "tiny", "--out", str(tmp_path / "taken")])
    assert res.exit_code == 2 and "--overwrite" in res.output


def test_config_file_option(tmp_path: Path) -> None:
    cfg = tmp_path / "twin.yaml"
    cfg.write_text("preset: tiny\ncustomers:\n  count: 150\n")
    res = runner.invoke(app, ["generate", "--config", str(cfg), "--out", str(tmp_path / "ds"), "-q"])
    assert res.exit_code == 0, res.output
    assert Dataset(tmp_path / "ds").rows("customers") == 150


def test_schema_command_prints_every_table() -> None:
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    for name in schema.TABLES:
        assert name in res.output
    md = runner.invoke(app, ["schema", "--markdown"])
    assert md.exit_code == 0 and "| `txn_id` |" in md.output


def test_docs_schema_is_current() -> None:
    doc = Path(__file__).parents[2] / "docs" / "schema.md"
    assert doc.read_text(encoding="utf-8").strip() == schema.to_markdown().strip(), "run `make docs`"


def test_flat_export(tiny_dataset: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "flat.parquet"
    res = runner.invoke(app, ["export", str(tiny_dataset.path), "--flat", "--out", str(out)])
    assert res.exit_code == 0, res.output
    n, cols = duckdb.sql(f"SELECT count(*), count(DISTINCT store_format) FROM '{out}'").fetchall()[0]
    assert n == tiny_dataset.rows("transaction_lines") and cols >= 2
    again = runner.invoke(app, ["export", str(tiny_dataset.path), "--flat", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_summary_of_missing_dataset(tmp_path: Path) -> None:
    res = runner.invoke(app, ["summary", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not found" in res.output


def test_python_dash_m_runs_the_same_app() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "retailsim", "--help"], capture_output=True, text=True, check=True
    )
    assert "generate" in res.stdout and "schema" in res.stdout
