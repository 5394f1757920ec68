"""--quarantine: clean + quarantined = input, children follow parents, the clean dataset passes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from retailsim import schema
from retailsim.quality.engine import run_validation
from retailsim.storage.dataset import Dataset


@pytest.mark.parametrize("which", ["defective_parquet", "defective_csv"])
def test_quarantine_loses_no_row_and_leaves_a_clean_dataset(
    request: pytest.FixtureRequest, tmp_path: Path, which: str
) -> None:
    src: Dataset = request.getfixturevalue(which)
    report = run_validation(src, quarantine_to=tmp_path / "clean")
    q = report.quarantine
    assert q is not None and q.balanced
    clean = Dataset(tmp_path / "clean")
    assert clean.format == src.format
    con = duckdb.connect()
    for t, c in q.tables.items():
        assert c.clean + c.quarantined == c.input == src.rows(t)
        assert clean.rows(t) == c.clean
        if c.quarantined:
            path = tmp_path / "clean" / "quarantine" / f"{t}.parquet"
            n, no_reason, own = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE _reason IS NULL OR _reason = '' OR len(_rule_ids) = 0), "
                f"count(*) FILTER (WHERE NOT _followed) FROM read_parquet('{path}')"
            ).fetchall()[0]
            assert (n, no_reason, own) == (c.quarantined, 0, c.own)
    # the clean dataset: no errors (warnings may stay: they do not quarantine by default)
    again = run_validation(clean)
    assert again.errors == [], [(r.rule.id, r.failed) for r in again.errors]
    assert clean.has("defects"), "truth travels with the clean dataset"


def test_children_follow_their_rejected_parents(defective_parquet: Dataset, tmp_path: Path) -> None:
    report = run_validation(defective_parquet, quarantine_to=tmp_path / "clean")
    qdir = tmp_path / "clean" / "quarantine"
    con = duckdb.connect()
    # every quarantined transaction's lines are quarantined too, and no clean line lacks its header
    orphan_lines = con.execute(f"""
        SELECT count(*) FROM read_parquet('{qdir}/transactions.parquet') t
        JOIN read_parquet('{tmp_path}/clean/transaction_lines/**/*.parquet') l USING (txn_id)""").fetchall()[
        0
    ][0]
    assert orphan_lines == 0
    followed = con.execute(f"""
        SELECT count(*) FROM read_parquet('{qdir}/transaction_lines.parquet')
        WHERE _followed AND list_contains(_rule_ids, 'follows:transactions')""").fetchall()[0][0]
    assert followed > 0
    assert report.quarantine is not None and report.quarantine.tables["transaction_lines"].followed > 0
    clean = Dataset(tmp_path / "clean").connect()
    for spec in schema.DATA_TABLES:
        for fk in spec.foreign_keys:
            (col,), (ref,) = fk.columns, fk.ref_columns
            n = clean.execute(
                f"SELECT count(*) FROM {spec.name} c WHERE c.{col} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {fk.ref_table} p WHERE p.{ref} = c.{col})"
            ).fetchall()[0][0]
            assert n == 0, (spec.name, col)


def test_clean_input_is_copied_unchanged(tiny_dataset: Dataset, tmp_path: Path) -> None:
    report = run_validation(tiny_dataset, quarantine_to=tmp_path / "clean")
    assert report.quarantine is not None
    assert all(c.quarantined == 0 for c in report.quarantine.tables.values())
    clean = Dataset(tmp_path / "clean")
    data = {s.name for s in schema.DATA_TABLES}
    src_files = {f["path"]: f["sha256"] for f in tiny_dataset.manifest["files"]}
    assert all(src_files[f["path"]] == f["sha256"] for f in clean.manifest["files"] if f["table"] in data)
    assert not (tmp_path / "clean" / "quarantine").exists()
