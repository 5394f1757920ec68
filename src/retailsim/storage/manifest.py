"""``manifest.json``: written last, it is what makes an output folder a complete dataset."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retailsim.storage.files import FileRecord

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def build_manifest(files: list[FileRecord], *, fmt: str, kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Manifest content: deterministic (sorted, no wall-clock times) so equal data gives equal bytes."""
    from retailsim import __version__

    rows: dict[str, int] = defaultdict(int)
    nfiles: dict[str, int] = defaultdict(int)
    for f in files:
        rows[f.table] += f.rows
        nfiles[f.table] += 1
    return {
        "manifest_version": MANIFEST_VERSION,
        "retailsim_version": __version__,
        "kind": kind,
        "format": fmt,
        **extra,
        "tables": {t: {"rows": rows[t], "files": nfiles[t]} for t in sorted(rows)},
        "files": [asdict(f) for f in sorted(files, key=lambda f: f.path)],
    }


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def read_manifest(root: Path) -> dict[str, Any]:
    from retailsim.errors import DatasetError

    p = root / MANIFEST
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    if not p.is_file():
        raise DatasetError(f"{root} is not a complete retailsim dataset: it has no {MANIFEST}")
    try:
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{p} is not valid JSON: {err}") from None
    if data.get("manifest_version") != MANIFEST_VERSION:
        raise DatasetError(f"{p}: unsupported manifest_version {data.get('manifest_version')!r}")
    return data
