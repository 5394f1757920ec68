"""The dashboard's side of the data-quality capability: finding a stored validation report, running one in
memory, reading quarantine files, and checking uploaded records. The checks themselves are
:mod:`retailsim.quality`'s; nothing here restates a rule."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retailsim import schema
from retailsim.errors import RetailsimError

REPORT_GLOBS = ("quality/*.json", "validation*.json", "report*.json", "quality*.json")
UPLOAD_DIR = "upload"


def _is_report(d: Any) -> bool:
    return isinstance(d, dict) and "report_version" in d and "rules" in d


def stored_reports(ds_path: Path) -> list[Path]:
    """Validation reports (``retailsim validate --json``) saved inside the dataset folder, newest first."""
    found: list[Path] = []
    for pattern in REPORT_GLOBS:
        for p in ds_path.glob(pattern):
            if p.is_file() and p not in found:
                found.append(p)
    out = []
    for p in found:
        try:
            if _is_report(json.loads(p.read_text(encoding="utf-8"))):
                out.append(p)
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda p: p.stat().st_mtime, reverse=True)


def latest_report(ds_path: Path) -> dict[str, Any] | None:
    reports = stored_reports(ds_path)
    if not reports:
        return None
    data: dict[str, Any] = json.loads(reports[0].read_text(encoding="utf-8"))
    return data


def run_report(ds_path: Path) -> dict[str, Any]:
    """Run every rule over the dataset (read-only, nothing written) and return the JSON-shaped report."""
    from retailsim.quality.engine import run_validation

    return run_validation(Path(ds_path)).to_dict()


def quarantine_files(ds_path: Path) -> dict[str, Path]:
    """``quarantine/<table>.parquet`` files of a dataset written by ``retailsim validate --quarantine``."""
    qdir = ds_path / "quarantine"
    if not qdir.is_dir():
        return {}
    return {p.stem: p for p in sorted(qdir.glob("*.parquet"))}


# --- checking uploaded records ------------------------------------------------------------------------------


def _typed(records: pa.Table, table: str) -> tuple[pa.Table, list[str | None]]:
    """Cast text columns to the schema's types; rows with a cell that does not parse get a reason."""
    spec = schema.table(table)
    con = duckdb.connect()
    try:
        con.register("up", records)
        casts = []
        bad = []
        for c in spec.columns:
            typ = schema.to_duckdb_type(c.type)
            col = f'"{c.name}"'
            casts.append(f"TRY_CAST({col} AS {typ}) AS {col}")
            bad.append(
                f"CASE WHEN {col} IS NOT NULL AND TRY_CAST({col} AS {typ}) IS NULL "
                f"THEN '{c.name}: ' || {col} || ' is not a valid {typ.lower()}' END"
            )
        typed = con.sql(f"SELECT {', '.join(casts)} FROM up").to_arrow_table()
        reasons = con.sql(f"SELECT concat_ws('; ', {', '.join(bad)}) AS r FROM up").to_arrow_table()
    finally:
        con.close()
    out = [r or None for r in reasons.column("r").to_pylist()]
    nullable = pa.schema([pa.field(c.name, c.type, nullable=True) for c in spec.columns])
    return typed.cast(nullable, safe=False), out


def _overlay(ds_path: Path, table: str, upload: Path, rows: int, root: Path) -> Path:
    """A dataset folder in ``root`` that is ``ds_path`` (its files linked, never copied or touched) plus the
    uploaded rows as one more file of ``table``."""
    from retailsim.storage.dataset import Dataset

    ds = Dataset(ds_path)
    out = root / "dataset"
    out.mkdir()
    for f in ds.manifest["files"]:
        dst = out / f["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(ds.path / f["path"])
    rel = f"{UPLOAD_DIR}/{upload.name}"
    (out / UPLOAD_DIR).mkdir(exist_ok=True)
    upload.replace(out / rel)
    m = copy.deepcopy(ds.manifest)
    m["files"].append({"path": rel, "table": table, "rows": rows, "bytes": 0, "sha256": ""})
    t = m["tables"].setdefault(table, {"rows": 0, "files": 0})
    t["rows"] += rows
    t["files"] += 1
    (out / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    return out


def check_records(ds_path: str | Path, table: str, records: pa.Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check new ``records`` of ``table`` (Arrow, text columns in schema order) against the table's contract
    and the dataset's keys; return (accepted, rejected) DataFrames, rejected with ``rule_ids`` and a readable
    ``reason``.

    The data-quality engine's own function is used when it has one; otherwise the records are checked by
    :func:`retailsim.quality.engine.run_validation` (the table's rules: contract, keys, foreign keys, cross-table
    rules) over a temporary dataset that links the dataset's files and adds the records as one more file. The
    dataset itself is never written.
    """
    from retailsim.quality import engine
    from retailsim.quality.rules import registry
    from retailsim.storage.dataset import Dataset

    own = getattr(engine, "check_records", None)
    if callable(own):  # pragma: no cover - adopted when the quality capability provides it
        return own(Path(ds_path), table, records)
    ds = Dataset(ds_path)
    if ds.format == "duckdb":
        raise RetailsimError(
            "checking uploads needs a Parquet or CSV dataset; this one is a DuckDB file "
            "(regenerate or import it with --format parquet)"
        )
    n = records.num_rows
    text = records.to_pandas()
    text.insert(0, "upload_row", range(1, n + 1))
    with tempfile.TemporaryDirectory(prefix="retailsim-upload-") as tmp:
        root = Path(tmp)
        parse_reason: list[str | None] = [None] * n
        if ds.format == "csv":
            upload = root / f"{table}.csv"
            pacsv.write_csv(records, upload)
            keep = records
            keep_rows = list(range(n))
        else:
            typed, parse_reason = _typed(records, table)
            keep_rows = [i for i, r in enumerate(parse_reason) if r is None]
            keep = typed.take(pa.array(keep_rows, pa.int64())) if keep_rows else typed.slice(0, 0)
            upload = root / f"{table}.parquet"
            pq.write_table(keep, upload)
        overlay = Dataset(_overlay(ds.path, table, upload, keep.num_rows, root))
        rules = [r for r in registry(overlay) if r.table == table]
        report = engine.run_validation(overlay, rules=rules)
        rel = f"{UPLOAD_DIR}/{upload.name}"
        f = report.findings.to_pandas()
        f = f[(f["table_name"] == table) & (f["file"] == rel)]
    desc = {r.id: r.description for r in rules}
    sev = {r.id: r.severity for r in rules}
    by_row: dict[int, list[str]] = {}
    for rid, row in zip(f["rule_id"], f["row"], strict=True):
        by_row.setdefault(keep_rows[int(row) - 1], []).append(str(rid))
    rule_ids: list[str] = []
    reasons: list[str] = []
    rejected_mask: list[bool] = []
    warn: list[str] = []
    for i in range(n):
        ids = by_row.get(i, [])
        errors = [r for r in ids if sev.get(r) == "error"]
        warnings = [r for r in ids if sev.get(r) != "error"]
        parts = ([f"does not parse — {parse_reason[i]}"] if parse_reason[i] else []) + [
            f"{r}: {desc.get(r, '')}" for r in errors
        ]
        rejected_mask.append(bool(parts))
        rule_ids.append(", ".join((["parse"] if parse_reason[i] else []) + errors))
        reasons.append("; ".join(parts))
        warn.append("; ".join(f"{r}: {desc.get(r, '')}" for r in warnings))
    mask = pd.Series(rejected_mask)
    rejected = text[mask.to_numpy()].assign(
        rule_ids=[r for r, m in zip(rule_ids, rejected_mask, strict=True) if m],
        reason=[r for r, m in zip(reasons, rejected_mask, strict=True) if m],
    )
    accepted = text[~mask.to_numpy()].assign(
        warnings=[w for w, m in zip(warn, rejected_mask, strict=True) if not m]
    )
    return accepted.reset_index(drop=True), rejected.reset_index(drop=True)
