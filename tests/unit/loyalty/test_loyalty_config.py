"""Loyalty rules: defaults, YAML round trip and bad configs rejected with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from retailsim.errors import ConfigError
from retailsim.loyalty.config import (
    LoyaltyConfig,
    build_loyalty_config,
    dump_loyalty_config,
    load_loyalty_config,
)


def _tiers(*rows: tuple[str, float | None, int | None]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for name, spend, visits in rows:
        d: dict[str, object] = {"name": name}
        if spend is not None:
            d["min_spend"] = spend
        if visits is not None:
            d["min_visits"] = visits
        out.append(d)
    return out


def test_defaults_are_four_monotone_tiers() -> None:
    cfg = LoyaltyConfig()
    assert cfg.tier_names == ["Bronze", "Silver", "Gold", "Platinum"]
    assert cfg.mode == "threshold" and cfg.combine == "any" and cfg.cadence == "monthly"
    assert cfg.window_months == 12 and cfg.max_down_per_review == 1 and cfg.grace_months >= 1
    spends = [t.min_spend for t in cfg.tiers[1:]]
    visits = [t.min_visits for t in cfg.tiers[1:]]
    assert spends == sorted(spends) and visits == sorted(visits)
    assert cfg.rank_shares == [0.25, 0.25, 0.25]  # the original scripts' quartiles
    assert "spend ≥ 1,500.00 or visits ≥ 52" in cfg.rule_text(2)
    assert cfg.rank_of("Gold") == 2


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = build_loyalty_config(
        {
            "mode": "rank",
            "cadence": "quarterly",
            "rank": {"shares": {"Platinum": 0.05, "Gold": 0.15, "Silver": 0.3}},
        }
    )
    p = tmp_path / "rules.yaml"
    p.write_text(dump_loyalty_config(cfg))
    again = load_loyalty_config(p)
    assert again == cfg and again.digest() == cfg.digest()
    assert load_loyalty_config(p, sets=["grace_months=0"]).grace_months == 0


def test_set_overrides_parse_values() -> None:
    cfg = build_loyalty_config(sets=["grace_months=1", "combine=all", "start=2024-03-01"])
    assert cfg.grace_months == 1 and cfg.combine == "all" and str(cfg.start) == "2024-03-01"


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (
            {"tiers": _tiers(("Bronze", None, None), ("Silver", 500, 24), ("Gold", 500, 52))},
            ["tiers[2].min_spend", "overlap"],
        ),
        (
            {"tiers": _tiers(("Bronze", None, None), ("Silver", 500, 24), ("Gold", 1500, 20))},
            ["tiers[2].min_visits", "greater than"],
        ),
        (
            {"tiers": _tiers(("Bronze", 10, None), ("Silver", 500, 24))},
            ["tiers[0]", "base tier"],
        ),
        (
            {"tiers": _tiers(("Bronze", None, None), ("Silver", 500, 24), ("Gold", 1500, None))},
            ["tiers[2].min_visits", "missing"],
        ),
        (
            {"tiers": _tiers(("Bronze", None, None), ("Bronze", 500, 24))},
            ["tiers[1].name", "duplicate"],
        ),
        ({"tiers": _tiers(("Bronze", None, None))}, ["at least two tiers"]),
        ({"rank": {"shares": {"Diamond": 0.1}}}, ["rank.shares.Diamond", "unknown tier", "Platinum"]),
        ({"rank": {"shares": {"Bronze": 0.1}}}, ["rank.shares.Bronze", "base tier"]),
        (
            {"mode": "rank", "rank": {"shares": {"Platinum": 0.5, "Gold": 0.3, "Silver": 0.3}}},
            ["rank.shares", "add up to 1.1"],
        ),
        ({"mode": "rank", "rank": {"shares": {"Platinum": 0.1}}}, ["rank.shares", "missing", "Gold"]),
        ({"cadence": "weekly"}, ["cadence", "monthly", "quarterly"]),
        ({"grace_months": -1}, ["grace_months"]),
        ({"window_months": 0}, ["window_months"]),
        ({"max_down_per_review": 0}, ["max_down_per_review"]),
        ({"tiers": [{"name": "Bronze"}, {"name": "Silver", "min_spend": -5}]}, ["tiers.1.min_spend"]),
        ({"graceperiod": 2}, ["graceperiod", "unknown setting"]),
        (
            {"tiers": [{"name": "Bronze"}, {"name": "Silver", "min_spend": 5, "colour": "grey"}]},
            ["tiers.1.colour"],
        ),
    ],
)
def test_bad_configs_are_rejected_naming_the_field(overrides: dict[str, object], needles: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        build_loyalty_config(overrides, source="rules.yaml")
    msg = str(err.value)
    assert msg.startswith("invalid loyalty configuration (rules.yaml)")
    for n in needles:
        assert n in msg, msg
    assert "Traceback" not in msg and "Value error," not in msg


def test_unknown_tier_lookup_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown tier 'Diamond'"):
        LoyaltyConfig().rank_of("Diamond")
    with pytest.raises(ConfigError, match="not found"):
        load_loyalty_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_loyalty_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_loyalty_config(lst)


def test_rank_mode_needs_no_thresholds_and_custom_tier_names_work() -> None:
    cfg = build_loyalty_config({"mode": "rank", "tiers": [{"name": "Basic"}, {"name": "Premium"}]})
    assert cfg.rank_shares == [0.5]
    assert "top 0–50%" in cfg.rule_text(1)
    with pytest.raises(ConfigError, match="threshold mode needs"):
        build_loyalty_config({"tiers": [{"name": "Basic"}, {"name": "Premium"}]})
