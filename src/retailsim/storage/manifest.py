"""``manifest.json``: written last, it is what makes an output folder a complete dataset."""

from __future__ import annotations

import json
import os
import time
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


HOLD_ENV = "RETAILSIM_HOLD_BEFORE_MANIFEST"
"""Test hook: a file path. A writer that is about to write a manifest creates that file (holding the staging
folder's path) and waits while it exists, so a test can kill the process at exactly this point — every data
file written, no manifest yet — instead of after a guessed delay. Unset in normal use."""
HOLD_MAX_S = 600.0


def _hold_before_manifest(root: Path) -> None:
    flag = os.environ.get(HOLD_ENV)
    if not flag:
        return
    p = Path(flag)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(str(root), encoding="utf-8")
    tmp.replace(p)  # appears whole
    deadline = time.monotonic() + HOLD_MAX_S  # a forgotten variable must not hold a run for ever
    while p.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Write ``root/manifest.json``: the last file of a dataset, which makes it complete."""
    _hold_before_manifest(root)
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
