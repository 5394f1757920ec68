"""Quality config and the rule registry: generated from the schema, limits from config, user rules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from retailsim import schema
from retailsim.config import build_config
from retailsim.errors import ConfigError
from retailsim.quality.config import Bound, QualityConfig, build_quality_config, load_quality_config
from retailsim.quality.rules import load_user_rules, registry, resolve_as_of


def test_defaults_are_the_retail_rules_of_thumb() -> None:
    c = QualityConfig()
    assert (c.age.min, c.age.max) == (16, 90)
    assert c.ranges["transaction_lines.quantity"] == Bound(min=1, max=50)
    assert c.ranges["transaction_lines.unit_price"] == Bound(min=0, max=5000, min_exclusive=True)
    assert c.ranges["transaction_lines.discount_pct"] == Bound(min=0, max=0.8)
    assert c.ranges["transaction_lines.unit_price"].text() == "(0, 5000]"


def test_yaml_config_overrides_and_keeps_other_defaults(tmp_path: Path) -> None:
    p = tmp_path / "q.yaml"
    p.write_text(
        "quality:\n  age: {min: 18, max: 99}\n  ranges:\n    transaction_lines.quantity: {min: 1, max: 99}\n",
        encoding="utf-8",
    )
    c = load_quality_config(p)
    assert (c.age.min, c.age.max) == (18, 99)
    assert c.ranges["transaction_lines.quantity"].max == 99
    assert c.ranges["products.list_price"].max == 5000  # untouched default


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"agee": {}}, "unknown setting"),
        ({"ranges": {"customers.nope": {"min": 1}}}, "unknown column"),
        ({"ranges": {"customers.email": {"min": 1}}}, "not numeric"),
        ({"age": {"min": 50, "max": 20}}, "must not exceed"),
        ({"money_tolerance": -1}, "money_tolerance"),
    ],
)
def test_bad_config_is_one_clear_error(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_quality_config(data)


def test_contracts_come_from_the_schema() -> None:
    rules = {r.id: r for r in registry(build_config("tiny"))}
    for spec in schema.DATA_TABLES:
        for c in spec.columns:
            assert (f"{spec.name}.{c.name}.not_null" in rules) == (not c.nullable)
            assert (f"{spec.name}.{c.name}.allowed" in rules) == bool(c.allowed)
            assert (f"{spec.name}.{c.name}.pattern" in rules) == bool(c.pattern)
            if c.pattern:
                assert c.pattern in rules[f"{spec.name}.{c.name}.pattern"].sql
        for fk in spec.foreign_keys:
            r = rules[f"{spec.name}.{fk.columns[0]}.fk"]
            assert fk.ref_table in r.tables
        assert f"{spec.name}.pk.unique" in rules
    assert rules["products.sku.unique"].lookups == ("dup_sku",)


def test_limits_come_from_config() -> None:
    rules = {r.id: r for r in registry(None, QualityConfig(age=Bound(min=18, max=80)))}
    assert "18" in rules["customers.age.range"].sql and "80" in rules["customers.age.range"].sql
    assert rules["transaction_lines.quantity.range"].sql == '"quantity" < 1 OR "quantity" > 50'
    assert "quality config" in rules["transaction_lines.quantity.range"].description
    assert "schema" in rules["stores.latitude.range"].description


def test_registry_shape_is_stable_and_json_able() -> None:
    rules = registry(build_config("tiny"))
    assert len({r.id for r in rules}) == len(rules)
    assert {r.severity for r in rules} == {"error", "warning"}
    assert {r.category for r in rules} == {"contract", "relational", "parse"}
    json.dumps([r.to_dict() for r in rules])
    assert all(r.witness for r in rules if "txn" in r.lookups and not r.id.endswith(".fk"))


def test_as_of_is_the_horizon_end_unless_configured() -> None:
    cfg = build_config("tiny")
    assert resolve_as_of(cfg, QualityConfig()) == dt.datetime.combine(cfg.horizon.end, dt.time())
    when = dt.datetime(2030, 1, 2, 3, 4, 5)
    assert resolve_as_of(cfg, QualityConfig(as_of=when)) == when


def test_user_rules(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(
        "rules:\n"
        "  - id: late_night\n    table: transactions\n    severity: warning\n"
        "    fail_if: hour(txn_ts) < 5 AND customer__signup_date > DATE '2020-01-01'\n"
        "  - id: zero\n    table: stores\n    fail_if: 0\n",
        encoding="utf-8",
    )
    late, zero = load_user_rules(p)
    assert late.category == "user" and late.severity == "warning"
    assert late.lookups == ("customer",) and "customers" in late.tables
    assert set(late.columns) == {"transactions.txn_ts", "customers.signup_date"}
    assert zero.sql == "0"
    rules = registry(None, user_rules=p)
    assert [r.id for r in rules if r.category == "user"] == ["zero", "late_night"]  # schema table order


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: 3", "list of mappings"),
        ("rules:\n  - id: a\n    table: stores\n", "'fail_if' is required"),
        ("rules:\n  - id: a\n    table: stores\n    fail_if: x\n    severity: fatal\n", "severity"),
        ("rules:\n  - id: a\n    table: stores\n    fail_if: x\n    colour: red\n", "unknown key"),
    ],
)
def test_bad_user_rules(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_user_rules(p)
