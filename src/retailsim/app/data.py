"""Cached, read-only data access for the dashboard.

One DuckDB connection per dataset (``st.cache_resource``), a view per table plus the derived outputs other
commands write into the dataset folder (loyalty history, quarantine), locked against file access outside the
dataset before any page query runs. Page queries are parameterised SQL run on a cursor of that connection
and cached by ``st.cache_data``; the cache key includes a *stamp* of the dataset's files, so re-running
``retailsim validate``/``loyalty``/``ml`` on a dataset shows up on the next interaction.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from retailsim.app.settings import ENV_DATASETS, ENV_MODELS
from retailsim.storage.dataset import Dataset

__all__ = ("ENV_DATASETS", "ENV_MODELS", "Ctx", "current", "dataset_paths", "query")
DEFAULT_DATASET = Path("data") / "demo"

TIER_HISTORY = Path("loyalty") / "tier_history.parquet"
QUARANTINE_DIR = Path("quarantine")

CURRENCY_BY_LOCALE = {"en_US": "$", "en_GB": "£", "de_DE": "€", "fr_FR": "€"}


def dataset_paths() -> list[Path]:
    """Datasets the app was started on: ``$RETAILSIM_APP_DATASETS`` (``os.pathsep``-separated), else the
    arguments after ``--`` of ``streamlit run main.py -- DATASET ...``, else ``data/demo`` when it exists."""
    env = os.environ.get(ENV_DATASETS, "")
    paths = [p for p in env.split(os.pathsep) if p.strip()]
    if not paths and sys.argv and Path(sys.argv[0]).name == "main.py":
        paths = [a for a in sys.argv[1:] if not a.startswith("-")]
    if not paths and (DEFAULT_DATASET / "manifest.json").is_file():
        paths = [str(DEFAULT_DATASET)]
    out: list[Path] = []
    for p in paths:
        rp = Path(os.path.realpath(p))
        if rp not in out:
            out.append(rp)
    return out


def models_root(ds_path: Path) -> list[Path]:
    """Folders that may hold trained models: ``$RETAILSIM_APP_MODELS`` and ``<dataset>/models``."""
    roots = [Path(p) for p in os.environ.get(ENV_MODELS, "").split(os.pathsep) if p.strip()]
    roots.append(ds_path / "models")
    return roots


def stamp(path: Path) -> str:
    """Changes whenever the dataset or a derived output in it is rewritten (cheap: a few ``stat`` calls)."""
    parts: list[str] = []
    for rel in ("manifest.json", str(TIER_HISTORY), "quality", "quarantine", "models", "loyalty"):
        p = path / rel
        try:
            st_ = p.stat()
            parts.append(f"{rel}:{st_.st_mtime_ns}:{st_.st_size}")
        except OSError:
            parts.append(f"{rel}:-")
    return "|".join(parts)


def extra_views(path: Path) -> dict[str, Path]:
    """Derived Parquet outputs inside the dataset that get a view: ``tier_history``, ``quarantine_<table>``."""
    out: dict[str, Path] = {}
    if (path / TIER_HISTORY).is_file():
        out["tier_history"] = path / TIER_HISTORY
    qdir = path / QUARANTINE_DIR
    if qdir.is_dir():
        for f in sorted(qdir.glob("*.parquet")):
            if f.stem.replace("_", "").isalnum():
                out[f"quarantine_{f.stem}"] = f
    return out


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@st.cache_resource(show_spinner=False, max_entries=8)
def _connection(path: str, stamp_: str) -> duckdb.DuckDBPyConnection:
    """The dashboard's read-only connection to one dataset (a new one when the dataset changes)."""
    ds = Dataset(path)
    spill = Path(tempfile.gettempdir()) / "retailsim-app-duckdb"  # never the working directory
    con = duckdb.connect(config={"threads": "2", "temp_directory": str(spill)})
    ds.connect(con)
    for name, f in extra_views(Path(path)).items():
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({_sql_str(str(f))})')
    con.execute("SET allowed_directories = ?", [[str(Path(path)) + os.sep]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _cursor(path: str, stamp_: str) -> duckdb.DuckDBPyConnection:
    return _connection(path, stamp_).cursor()


@st.cache_data(show_spinner=False, max_entries=1024)
def query(path: str, stamp_: str, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """Run a trusted page query (values only as parameters) and cache its result."""
    cur = _cursor(path, stamp_)
    try:
        return cur.execute(sql, list(params) if params else None).df()
    finally:
        cur.close()


@st.cache_data(show_spinner=False, max_entries=64)
def read_json(path: str, stamp_: str) -> Any:
    """A JSON file written by another command (validation report, model card ...)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


@st.cache_resource(show_spinner=False, max_entries=8)
def open_dataset(path: str, stamp_: str) -> Dataset:
    return Dataset(path)


@dataclass(frozen=True)
class Ctx:
    """The dataset a page works on, with everything a page needs to query it."""

    path: Path
    stamp: str

    @cached_property
    def ds(self) -> Dataset:
        return open_dataset(str(self.path), self.stamp)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return self.ds.kind

    @property
    def currency(self) -> str:
        cfg = self.ds.manifest.get("config") or {}
        cur = self.ds.manifest.get("currency")
        if isinstance(cur, str):
            return cur
        return CURRENCY_BY_LOCALE.get(str(cfg.get("customers", {}).get("locale", "")), "")

    def has(self, table: str) -> bool:
        return self.ds.has(table) and self.ds.rows(table) > 0

    def has_column(self, table: str, column: str) -> bool:
        return self.ds.has_column(table, column)

    def q(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run a cached read-only query on this dataset."""
        return query(str(self.path), self.stamp, sql, tuple(params) if params else None)

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        df = self.q(sql, params)
        return None if df.empty else df.iat[0, 0]

    def view_exists(self, name: str) -> bool:
        return name in extra_views(self.path) or self.ds.has(name)

    @property
    def horizon(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last transaction time (cached)."""
        df = self.q("SELECT min(txn_ts) AS lo, max(txn_ts) AS hi FROM transactions")
        return pd.Timestamp(df.at[0, "lo"]), pd.Timestamp(df.at[0, "hi"])


def make_ctx(path: Path) -> Ctx:
    return Ctx(path=path, stamp=stamp(path))


SELECTED_KEY = "retailsim_dataset"


def current() -> Ctx | None:
    """The dataset chosen in the sidebar (set by ``main.py``) — or the first one the app was started on."""
    chosen = st.session_state.get(SELECTED_KEY)
    paths = dataset_paths()
    if chosen is None and paths:
        chosen = str(paths[0])
    if chosen is None:
        return None
    return make_ctx(Path(chosen))
