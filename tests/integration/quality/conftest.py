"""Datasets with labelled defects, generated once per session (tiny preset: about a second each)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.storage.dataset import Dataset

MakeDefective = Callable[..., Dataset]


def _make(
    tmp_path_factory: pytest.TempPathFactory, preset: str, seed: int, rate: float, fmt: str = "parquet"
) -> Dataset:
    out = tmp_path_factory.mktemp(f"defects-{preset}-{seed}-{fmt}") / "ds"
    cfg = build_config(preset, sets=[f"seed={seed}"])
    return generate(cfg, out, fmt=fmt, defects=f"rate={rate}")  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def make_defective(tmp_path_factory: pytest.TempPathFactory) -> MakeDefective:
    """make_defective(preset, seed, rate, fmt="parquet") -> Dataset with truth/defects."""
    return lambda *a, **k: _make(tmp_path_factory, *a, **k)


@pytest.fixture(scope="session")
def defective_parquet(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """tiny, seed 7, 5% of the rows of every table damaged, Parquet."""
    return _make(tmp_path_factory, "tiny", 7, 0.05)


@pytest.fixture(scope="session")
def defective_csv(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """tiny, seed 8, 5% damaged, CSV (so unparseable cells too)."""
    return _make(tmp_path_factory, "tiny", 8, 0.05, "csv")
