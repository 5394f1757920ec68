"""Shared fixtures: small seeded datasets generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.storage.dataset import Dataset

TINY_SEED = 7

# No wall-time verdicts: Hypothesis' default 200 ms deadline per example fails tests on a loaded machine.
settings.register_profile("retailsim", deadline=None)
settings.load_profile("retailsim")


@pytest.fixture(scope="session")
def tiny_config():
    return build_config("tiny", sets=[f"seed={TINY_SEED}"])


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory, tiny_config) -> Dataset:
    """The `tiny` preset (400 customers, 8 months) as Parquet."""
    return generate(tiny_config, tmp_path_factory.mktemp("tiny") / "ds", workers=1)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The `small` preset (2,000 customers, 12 months) as Parquet."""
    cfg = build_config("small", sets=["seed=11"])
    return generate(cfg, tmp_path_factory.mktemp("small") / "ds", workers=2)


@pytest.fixture()
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"
