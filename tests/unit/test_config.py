"""Config: presets, YAML round trip, --set overrides, one clear error naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from retailsim.config import PRESETS, build_config, dump_config, load_config, parse_set
from retailsim.errors import ConfigError


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_validate(preset: str) -> None:
    cfg = build_config(preset)
    assert cfg.preset == preset and cfg.n_shards >= 1


def test_demo_preset_sizes() -> None:
    cfg = build_config("demo")
    assert (cfg.customers.count, cfg.stores.count, cfg.products.count, cfg.horizon.months) == (
        10_000,
        25,
        3000,
        18,
    )


def test_set_overrides_nested_values() -> None:
    cfg = build_config(
        "demo", sets=["customers.count=200000", "horizon.start=2023-02-01", "customers.locale=de_DE"]
    )
    assert cfg.customers.count == 200_000
    assert str(cfg.horizon.start) == "2023-02-01" and cfg.customers.locale == "de_DE"
    assert parse_set("a.b.c=1.5") == {"a": {"b": {"c": 1.5}}}


@pytest.mark.parametrize(
    "item,expected",
    [
        ("customers.count=-5", "customers.count"),
        ("customers.cout=5", "customers.cout: unknown setting; allowed here: age_mean"),
        ("customers.locale=xx_XX", "'en_US', 'en_GB', 'de_DE' or 'fr_FR'"),
        ("horizon.months=0", "horizon.months"),
        ("promotions.discounts=[0.9]", "discounts"),
        ("nonsense", "--set expects KEY=VALUE"),
    ],
)
def test_bad_values_name_the_field(item: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config("demo", sets=[item])
    assert expected in str(err.value)


def test_unknown_preset_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="allowed: tiny, small, demo, medium, large"):
        build_config("huge")


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = build_config("small", sets=["seed=3", "customers.habit.mean=0.5"])
    p = tmp_path / "cfg.yaml"
    p.write_text(dump_config(cfg))
    assert load_config(p) == cfg
    assert load_config(p, sets=["seed=4"]).seed == 4


def test_bad_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("customers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scalar)
