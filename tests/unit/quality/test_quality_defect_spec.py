"""`--defects rate=…[,kinds=…]` parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retailsim.errors import ConfigError
from retailsim.quality.defects import CSV_ONLY, EXPECTED_RULES, KINDS, TARGETS, DefectSpec


def test_parse_forms() -> None:
    assert DefectSpec.parse("rate=0.01") == DefectSpec(0.01, None)
    assert DefectSpec.parse("rate=0.2,kinds=bad_quantity+orphan_key").kinds == ("bad_quantity", "orphan_key")
    assert DefectSpec.parse("kinds=bad_quantity,orphan_key,rate=0.2").kinds == ("bad_quantity", "orphan_key")


@given(
    st.floats(min_value=1e-6, max_value=0.5),
    st.lists(st.sampled_from(KINDS), min_size=1, max_size=5, unique=True),
)
def test_round_trip(rate: float, kinds: list[str]) -> None:
    spec = DefectSpec.parse(f"rate={rate!r},kinds={'+'.join(kinds)}")
    assert spec.rate == rate and spec.kinds == tuple(kinds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate=0", "rate must be in"),
        ("rate=x", "number"),
        ("kinds=bad_age", "needs rate"),
        ("rate=0.1,colour=red", "unknown key"),
        ("rate=0.1,kinds=nope", "unknown kind"),
    ],
)
def test_bad_specs(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DefectSpec.parse(text)


def test_kinds_per_format() -> None:
    assert "unparseable_cell" not in DefectSpec(0.1).kinds_for("parquet")
    assert set(DefectSpec(0.1).kinds_for("csv")) == set(KINDS)
    with pytest.raises(ConfigError, match="needs --format csv"):
        DefectSpec(0.1, CSV_ONLY).kinds_for("parquet")


def test_every_kind_has_targets_and_an_expected_rule() -> None:
    targeted = {k for kinds in TARGETS.values() for k in kinds}
    assert targeted == set(KINDS) == set(EXPECTED_RULES)
