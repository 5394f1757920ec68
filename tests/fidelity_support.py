"""Helpers of the fidelity tests: hand-made datasets and the CDNOW sample log (tests/data/cdnow_sample)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from retailsim import schema
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import write_table
from retailsim.storage.manifest import build_manifest, write_manifest

DATA = Path(__file__).parent / "data"
CDNOW_CSV = DATA / "cdnow_sample" / "cdnow_sample.csv"
CDNOW_MAPPING = {"customer_id": "cust", "timestamp": "date", "amount": "dollars", "quantity": "cds"}
CDNOW_DATE_FORMAT = "%Y%m%d"


def write_dataset(
    root: Path,
    tables: dict[str, list[dict[str, Any]]],
    *,
    start: dt.date,
    end: dt.date,
    kind: str = "generated",
    absent: dict[str, list[str]] | None = None,
) -> Dataset:
    """A dataset folder with the given rows (columns not given are null; every field nullable)."""
    root.mkdir(parents=True)
    files = []
    for name, rows in tables.items():
        spec = schema.table(name)
        arrow_schema = pa.schema([pa.field(c.name, c.type, nullable=True) for c in spec.columns])
        columns = {c.name: [r.get(c.name) for r in rows] for c in spec.columns}
        table = pa.table(columns, schema=arrow_schema)
        files.append(write_table(table, root, f"{name}/part-00000.parquet", name, "parquet"))
    extra: dict[str, Any] = {"horizon": {"start": start.isoformat(), "end": end.isoformat()}}
    if absent:
        extra["absent"] = absent
    write_manifest(root, build_manifest(files, fmt="parquet", kind=kind, extra=extra))
    return Dataset(root)


def ts(day: str, hour: int = 12) -> dt.datetime:
    """A timestamp at ``hour`` o'clock of ``day`` (YYYY-MM-DD)."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour))


def write_log(path: Path, text: str) -> Path:
    """Write a small hand-made log file (dedented lines) and return its path."""
    lines = [line.strip() for line in text.strip().splitlines()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
