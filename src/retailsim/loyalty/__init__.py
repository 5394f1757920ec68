"""Loyalty tiers from behaviour, reassigned at every review with a full, auditable history.

>>> from retailsim.loyalty import tiers_as_of, assign, explain        # doctest: +SKIP
>>> tiers_as_of("data/demo", "2025-03-31")    # customer_id, tier, tier_rank — leakage-free  # doctest: +SKIP
>>> assign("data/demo")                       # writes data/demo/loyalty/tier_history.parquet  # doctest: +SKIP

See ``docs/loyalty.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = (
    "GAPS_AND_OVERLAPS_SQL",
    "Explanation",
    "LoyaltyConfig",
    "LoyaltyRun",
    "TierRule",
    "assign",
    "build_loyalty_config",
    "explain",
    "history_as_of",
    "history_gaps_and_overlaps",
    "history_path",
    "history_problems",
    "load_loyalty_config",
    "read_history",
    "replay",
    "tiers_as_of",
    "tiers_at",
)

if TYPE_CHECKING:
    from retailsim.loyalty.api import Explanation, explain, tiers_as_of, tiers_at
    from retailsim.loyalty.config import LoyaltyConfig, TierRule, build_loyalty_config, load_loyalty_config
    from retailsim.loyalty.store import (
        GAPS_AND_OVERLAPS_SQL,
        LoyaltyRun,
        assign,
        history_as_of,
        history_gaps_and_overlaps,
        history_path,
        history_problems,
        read_history,
        replay,
    )

_LAZY = {
    "Explanation": "retailsim.loyalty.api",
    "explain": "retailsim.loyalty.api",
    "tiers_as_of": "retailsim.loyalty.api",
    "tiers_at": "retailsim.loyalty.api",
    "LoyaltyConfig": "retailsim.loyalty.config",
    "TierRule": "retailsim.loyalty.config",
    "build_loyalty_config": "retailsim.loyalty.config",
    "load_loyalty_config": "retailsim.loyalty.config",
    "GAPS_AND_OVERLAPS_SQL": "retailsim.loyalty.store",
    "LoyaltyRun": "retailsim.loyalty.store",
    "assign": "retailsim.loyalty.store",
    "history_as_of": "retailsim.loyalty.store",
    "history_gaps_and_overlaps": "retailsim.loyalty.store",
    "history_path": "retailsim.loyalty.store",
    "history_problems": "retailsim.loyalty.store",
    "read_history": "retailsim.loyalty.store",
    "replay": "retailsim.loyalty.store",
}


def __getattr__(name: str) -> Any:  # lazy: `retailsim --help` imports this package and should stay fast
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'retailsim.loyalty' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
