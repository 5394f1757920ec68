"""The one reader of settings files: every config fails the same clear way."""

from __future__ import annotations

from pathlib import Path

import pytest

from retailsim.errors import ConfigError
from retailsim.settings_files import deep_merge, read_yaml


def test_deep_merge_merges_nested_mappings_without_changing_inputs() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": 1}
    extra = {"a": {"y": 3}, "c": [1]}
    assert deep_merge(base, extra) == {"a": {"x": 1, "y": 3}, "b": 1, "c": [1]}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1} and extra == {"a": {"y": 3}, "c": [1]}
    assert deep_merge({"a": {"x": 1}}, {"a": 5}) == {"a": 5}  # a value replaces a mapping


def test_read_yaml(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("seed: 3\ncustomers: {count: 10}\n")
    assert read_yaml(good, "config file") == {"seed": 3, "customers": {"count": 10}}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_yaml(empty, "config file") == {}
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    assert read_yaml(listing, "rules file", mapping=False) == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "ML config file not found: "),
        (b"a: [1, 2\n", "is not valid YAML"),
        (b"- a\n", "must hold a mapping of settings, not list"),
        (b"\xff\xfe\x00bad", "cannot be read"),
    ],
)
def test_read_yaml_errors_name_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    p = tmp_path / "ml.yaml"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as err:
        read_yaml(p, "ML config file")
    assert str(p) in str(err.value)
