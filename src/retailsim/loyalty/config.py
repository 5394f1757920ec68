"""Typed, validated loyalty rules: tiers, thresholds, cadence, grace period and the rank-based mode.

A :class:`LoyaltyConfig` is a frozen pydantic model loadable from YAML (:func:`load_loyalty_config`) and
overridable with ``a.b=value`` strings (:func:`build_loyalty_config`). Unknown keys, unknown tier names and
overlapping or non-monotone thresholds fail with one :class:`~retailsim.errors.ConfigError` naming the field.

Example YAML (the defaults)::

    mode: threshold          # or: rank
    combine: any             # any: spend >= X OR visits >= Y; all: both
    window_months: 12
    cadence: monthly         # monthly | quarterly | semiannual | annual (reviews at month ends)
    grace_months: 3
    max_down_per_review: 1
    visits: days             # days: distinct shopping days; transactions: baskets
    start: null              # programme start; null = first day of the data
    tiers:
      - {name: Bronze}
      - {name: Silver, min_spend: 500, min_visits: 24}
      - {name: Gold, min_spend: 1500, min_visits: 52}
      - {name: Platinum, min_spend: 4000, min_visits: 104}
    rank:
      shares: null           # null: equal shares; or e.g. {Platinum: 0.05, Gold: 0.15, Silver: 0.3}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retailsim.errors import ConfigError
from retailsim.settings_files import deep_merge, read_yaml

Mode = Literal["threshold", "rank"]
Combine = Literal["any", "all"]
Cadence = Literal["monthly", "quarterly", "semiannual", "annual"]
VisitsDefinition = Literal["days", "transactions"]

CADENCE_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class TierRule(_Strict):
    """One tier and what it takes to qualify for it (the base tier has no thresholds)."""

    name: str = Field(min_length=1, max_length=40, description="Tier name, unique.")
    min_spend: float | None = Field(
        None, gt=0, description="Qualifies with net spend over the window at least this (currency units)."
    )
    min_visits: int | None = Field(
        None, ge=1, description="Qualifies with at least this many visits over the window."
    )


class RankConfig(_Strict):
    """Rank-based mode: tiers by share of customers ranked by average monthly spend (top first)."""

    shares: dict[str, float] | None = Field(
        None,
        description=(
            "Share of customers in each tier above the base; the base tier takes the rest. "
            "null: equal shares for every tier (quartiles with four tiers: top 25% the top tier, ...)."
        ),
    )


def _default_tiers() -> tuple[TierRule, ...]:
    return (
        TierRule(name="Bronze"),
        TierRule(name="Silver", min_spend=500, min_visits=24),
        TierRule(name="Gold", min_spend=1500, min_visits=52),
        TierRule(name="Platinum", min_spend=4000, min_visits=104),
    )


class LoyaltyConfig(_Strict):
    """The rules of a loyalty programme. Tiers are listed from the base tier up.

    Parameters
    ----------
    mode
        ``threshold``: a customer qualifies for the highest tier whose thresholds they meet;
        ``rank``: tiers by quantile of average monthly spend (``rank.shares``).
    combine
        ``any``: spend ≥ X **or** visits ≥ Y qualifies; ``all``: both are needed.
    window_months
        Length of the rolling window that ends at each review (12: the last 12 calendar months).
    cadence
        How often tiers are reviewed; reviews fall on month ends (quarterly: March, June, ...).
    grace_months
        A customer who no longer qualifies keeps the tier until they have been below it for this long.
    max_down_per_review
        At most this many tiers down at one review.
    visits
        What a visit is: ``days`` (distinct days with a purchase) or ``transactions`` (baskets).
    start
        Programme start: customers known then enrol at the base tier and the first review is the first
        review date on or after it. ``None``: the first day of the data.
    tiers
        The tiers, base tier first.
    rank
        Settings of the rank-based mode.
    """

    mode: Mode = Field("threshold", description="threshold or rank.")
    combine: Combine = Field("any", description="any: spend OR visits qualifies; all: both needed.")
    window_months: int = Field(12, ge=1, le=60, description="Rolling window ending at each review.")
    cadence: Cadence = Field("monthly", description="Review cadence; reviews fall on month ends.")
    grace_months: int = Field(3, ge=0, le=60, description="Months below a tier before a downgrade.")
    max_down_per_review: int = Field(1, ge=1, le=20, description="Most tiers lost at one review.")
    visits: VisitsDefinition = Field("days", description="days or transactions.")
    start: dt.date | None = Field(None, description="Programme start; null = first day of the data.")
    tiers: tuple[TierRule, ...] = Field(default_factory=_default_tiers, description="Base tier first.")
    rank: RankConfig = RankConfig()

    @model_validator(mode="after")
    def _check_tiers(self) -> LoyaltyConfig:
        tiers = self.tiers
        if len(tiers) < 2:
            raise ValueError("tiers: at least two tiers are needed (a base tier and one above it)")
        if len(tiers) > 20:
            raise ValueError("tiers: at most 20 tiers")
        names = [t.name for t in tiers]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ValueError(f"tiers[{i}].name: duplicate tier name {n!r}")
        base = tiers[0]
        if base.min_spend is not None or base.min_visits is not None:
            raise ValueError(
                f"tiers[0] ({base.name}) is the base tier: everyone qualifies, so it takes no min_spend "
                "or min_visits"
            )
        for metric in ("min_spend", "min_visits"):
            used = [getattr(t, metric) is not None for t in tiers[1:]]
            if any(used) and not all(used):
                i = 1 + used.index(False)
                raise ValueError(
                    f"tiers[{i}].{metric}: missing; when one tier above the base uses {metric}, every "
                    "tier above the base must"
                )
            if not all(used):
                continue
            for i in range(2, len(tiers)):
                lo, hi = getattr(tiers[i - 1], metric), getattr(tiers[i], metric)
                if hi <= lo:
                    raise ValueError(
                        f"tiers[{i}].{metric}: {hi:g} must be greater than tiers[{i - 1}].{metric} "
                        f"({lo:g}); thresholds overlap or are not increasing from "
                        f"{tiers[i - 1].name} to {tiers[i].name}"
                    )
        if self.mode == "threshold" and all(t.min_spend is None and t.min_visits is None for t in tiers[1:]):
            raise ValueError(
                "tiers: threshold mode needs min_spend and/or min_visits on the tiers above the base"
            )
        known = set(names[1:])
        shares = self.rank.shares or {}
        for name, share in shares.items():
            if name == base.name:
                raise ValueError(
                    f"rank.shares.{name}: the base tier takes the remaining customers; give shares only "
                    f"for {', '.join(names[1:])}"
                )
            if name not in known:
                raise ValueError(f"rank.shares.{name}: unknown tier {name!r}; tiers are {', '.join(names)}")
            if not 0 < share < 1:
                raise ValueError(f"rank.shares.{name}: share must be in (0, 1) (got {share!r})")
        if self.mode == "rank" and self.rank.shares is not None:
            missing = [n for n in names[1:] if n not in shares]
            if missing:
                raise ValueError(f"rank.shares: missing a share for {', '.join(missing)}")
        total = sum(shares.values())
        if total >= 1:
            raise ValueError(
                f"rank.shares: the shares add up to {total:g}; they must leave a share (> 0) for the base tier"
            )
        return self

    # ------------------------------------------------------------------ derived
    @property
    def tier_names(self) -> list[str]:
        """Tier names, base tier first (the tier's rank is its index)."""
        return [t.name for t in self.tiers]

    @property
    def base_tier(self) -> str:
        return self.tiers[0].name

    @property
    def rank_shares(self) -> list[float]:
        """Share of customers of each tier above the base, in tier order (rank mode)."""
        if self.rank.shares is None:
            return [1.0 / len(self.tiers)] * (len(self.tiers) - 1)
        return [self.rank.shares.get(t.name, 0.0) for t in self.tiers[1:]]

    @property
    def cadence_months(self) -> int:
        return CADENCE_MONTHS[self.cadence]

    def rank_of(self, tier: str) -> int:
        """The rank (0 = base) of tier ``tier``; :class:`ConfigError` for an unknown tier."""
        try:
            return self.tier_names.index(tier)
        except ValueError:
            raise ConfigError(f"unknown tier {tier!r}; tiers are {', '.join(self.tier_names)}") from None

    def rule_text(self, rank: int) -> str:
        """Human-readable qualification rule of the tier with rank ``rank``."""
        if rank == 0:
            return "base tier: everyone qualifies"
        t = self.tiers[rank]
        if self.mode == "rank":
            shares = self.rank_shares
            above = sum(shares[rank:])
            share = shares[rank - 1]
            return (
                f"top {100 * above:g}–{100 * (above + share):g}% of customers by average monthly spend "
                f"over {self.window_months} months"
            )
        parts = []
        if t.min_spend is not None:
            parts.append(f"spend ≥ {t.min_spend:,.2f}")
        if t.min_visits is not None:
            parts.append(f"visits ≥ {t.min_visits}")
        joiner = " or " if self.combine == "any" else " and "
        return f"{joiner.join(parts)} over {self.window_months} months"

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the rules (stored beside a history to detect rule changes)."""
        return hashlib.sha256(
            json.dumps(self.model_dump(mode="json"), sort_keys=True).encode("utf-8")
        ).hexdigest()


# ---------------------------------------------------------------------- loading
def _format_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown setting"
        got = e.get("input")
        got_txt = (
            ""
            if e["type"] in ("extra_forbidden", "missing", "value_error") or isinstance(got, dict | list)
            else f" (got {got!r})"
        )
        lines.append(f"{loc}: {msg}{got_txt}" if loc else f"{msg}{got_txt}")
    return f"invalid loyalty configuration ({source}): " + "; ".join(lines)


def build_loyalty_config(
    overrides: dict[str, Any] | None = None, *, sets: list[str] | None = None, source: str = "arguments"
) -> LoyaltyConfig:
    """A validated :class:`LoyaltyConfig` from the defaults, a mapping of overrides and ``a.b=v`` strings.

    Parameters
    ----------
    overrides
        Nested settings (as in the YAML file) replacing the defaults. ``tiers`` replaces the whole list.
    sets
        ``key=value`` strings, e.g. ``grace_months=1`` or ``rank.shares.Platinum=0.1``.
    source
        Where the settings came from, for the error message.

    Raises
    ------
    ConfigError
        Naming every offending field.
    """
    from retailsim.config import parse_set

    data: dict[str, Any] = {}
    if overrides:
        if not isinstance(overrides, dict):
            raise ConfigError(f"invalid loyalty configuration ({source}): expected a mapping of settings")
        data = deep_merge(data, overrides)
    for item in sets or []:
        data = deep_merge(data, parse_set(item))
    try:
        return LoyaltyConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None


def load_loyalty_config(path: str | Path, *, sets: list[str] | None = None) -> LoyaltyConfig:
    """Load loyalty rules from a YAML file, then apply ``--set`` items.

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or holds an invalid setting (the message names the field).
    """
    p = Path(path)
    raw = read_yaml(p, "loyalty config file")
    return build_loyalty_config(raw, sets=sets, source=str(p))


def dump_loyalty_config(config: LoyaltyConfig) -> str:
    """YAML text that :func:`load_loyalty_config` turns back into ``config``."""
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=False), sort_keys=False)
