"""retailsim: a retail data lab.

Generate realistic relational retail data from a behavioural simulation, measure its fidelity, check its
quality, assign loyalty tiers and predict each customer's next-30-day spend.

>>> import retailsim
>>> cfg = retailsim.build_config("tiny", sets=["seed=7"])
>>> ds = retailsim.generate(cfg, "data/tiny")              # doctest: +SKIP
>>> retailsim.expected_spend(ds, "2024-06-30").head()     # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = (
    "Dataset",
    "SimConfig",
    "__version__",
    "build_config",
    "expected_spend",
    "generate",
    "load_config",
    "open_dataset",
)

if TYPE_CHECKING:
    from retailsim.config import SimConfig, build_config, load_config
    from retailsim.generate.oracle import expected_spend
    from retailsim.generate.runner import generate
    from retailsim.storage.dataset import Dataset, open_dataset

_LAZY = {
    "SimConfig": "retailsim.config",
    "build_config": "retailsim.config",
    "load_config": "retailsim.config",
    "generate": "retailsim.generate.runner",
    "expected_spend": "retailsim.generate.oracle",
    "Dataset": "retailsim.storage.dataset",
    "open_dataset": "retailsim.storage.dataset",
}


def __getattr__(name: str) -> Any:  # lazy: importing retailsim does no work
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'retailsim' has no attribute {name!r}")
