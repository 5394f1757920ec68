"""Model artifacts on disk: only data formats (JSON, XGBoost UBJ, skops, safetensors), every file hashed in the
model card and verified on load.

A saved predictor is a folder::

    <model_dir>/
      champion.json                 which model folder serves (written by training)
      leaderboard.json, report.html the backtest
      <model_id>/
        card.json                   model card: data manifest hash, cutoffs, metrics, versions, file hashes
        features.json               the FeatureSpec (feature groups, departments, horizon)
        model/…                     the point model: XGBoost UBJ, skops, safetensors + JSON, or JSON params
        head/…                      the hurdle model giving P(buy) and the interval (XGBoost UBJ + JSON)

Loading checks the card's format version and the SHA-256 of every file (and that no file was added or
removed); any mismatch raises :class:`~retailsim.ml.errors.ArtifactError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any

from retailsim.ml.errors import ArtifactError
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import sha256_file

FORMAT_VERSION = 1
CARD = "card.json"
FEATURES = "features.json"
CHAMPION = "champion.json"
MODEL_DIR = "model"
HEAD_DIR = "head"
DEFAULT_DIR = "models"


def manifest_sha256(ds: Dataset) -> str:
    """Hash of a dataset's identity: its manifest's kind, format, tables and per-file SHA-256 list."""
    m = ds.manifest
    ident = {k: m.get(k) for k in ("kind", "format", "tables", "files")}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of everything that shapes a model's predictions."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in (
        "retailsim",
        "numpy",
        "pandas",
        "duckdb",
        "scikit-learn",
        "xgboost",
        "torch",
        "skops",
        "safetensors",
        "pymc-marketing",
    ):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def default_model_dir(ds: Dataset) -> Path:
    """``<dataset>/models``."""
    return ds.path / DEFAULT_DIR


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` except the card, keyed by relative POSIX path."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != CARD
    }


def write_card(folder: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Complete ``card`` with the format version and file hashes and write it (last)."""
    card = {"format_version": FORMAT_VERSION, **card, "files": file_hashes(folder)}
    (folder / CARD).write_text(
        json.dumps(card, indent=1, sort_keys=False, default=str) + "\n", encoding="utf-8"
    )
    return card


def read_card(folder: Path) -> dict[str, Any]:
    """The card of a model folder, after checking its version and every file's SHA-256.

    Raises
    ------
    ArtifactError
        Missing or unreadable card, unsupported format, a file missing, added or changed.
    """
    p = folder / CARD
    if not folder.is_dir():
        raise ArtifactError(f"model folder not found: {folder}")
    try:
        card: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{folder} is not a retailsim model: it has no {CARD}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{p} is not valid JSON (tampered or truncated): {err}") from None
    if card.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{p}: model format version {card.get('format_version')!r} is not supported (expected {FORMAT_VERSION}); "
            "retrain the model with this version of retailsim"
        )
    expected = card.get("files")
    if not isinstance(expected, dict) or not expected:
        raise ArtifactError(f"{p}: the card lists no file hashes")
    actual = file_hashes(folder)
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(f for f in set(expected) & set(actual) if expected[f] != actual[f])
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected {', '.join(extra)}")
    if changed:
        problems.append(f"modified {', '.join(changed)} (SHA-256 differs from the model card)")
    if problems:
        raise ArtifactError(f"model {folder} failed its integrity check: {'; '.join(problems)}")
    return card


def resolve_model_folder(path: str | Path) -> Path:
    """The model folder ``path`` designates: a model folder (with ``card.json``), a model directory (its
    ``champion.json``), or a dataset folder (its ``models/champion.json``)."""
    p = Path(path)
    if (p / CARD).is_file():
        return p
    for d in (p, p / DEFAULT_DIR):
        champ = d / CHAMPION
        if champ.is_file():
            try:
                ref = json.loads(champ.read_text(encoding="utf-8"))
                sub = d / str(ref["folder"])
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ArtifactError(f"{champ} is not valid: {err}") from None
            if Path(str(ref["folder"])).name != str(ref["folder"]):
                raise ArtifactError(f"{champ} points outside its folder: {ref['folder']!r}")
            return sub
    if not p.exists():
        raise ArtifactError(f"no model at {p}: the path does not exist")
    raise ArtifactError(
        f"no model at {p}: expected a model folder with {CARD}, or a folder with {CHAMPION} "
        f"(run `retailsim ml train` first)"
    )


def publish(staging: Path, target: Path) -> None:
    """Move a fully written model folder into place (replacing an older one of the same id)."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.replace(old)
        staging.replace(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.replace(target)


def write_champion(model_dir: Path, model_id: str) -> None:
    ref = {
        "model_id": model_id,
        "folder": model_id,
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = model_dir / f".{CHAMPION}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps(ref, indent=1) + "\n", encoding="utf-8")
    tmp.replace(model_dir / CHAMPION)
