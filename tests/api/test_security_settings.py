"""The API key (sources, validation, bind rule, constant-time check) and the settings, without a model."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from retailsim.api.security import check_bind, is_loopback, key_matches, load_api_key
from retailsim.api.settings import ApiSettings
from retailsim.errors import ConfigError

KEY = "k3y-for-tests-0123456789"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_bind_needs_a_key() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", SecretStr(KEY))
    with pytest.raises(ConfigError, match=r"refusing to bind to 0\.0\.0\.0"):
        check_bind("0.0.0.0", None)


def test_key_from_env_and_file(tmp_path: Path) -> None:
    assert load_api_key(None, env={}) is None
    assert load_api_key(None, env={"RETAILSIM_API_KEY": "  "}) is None
    got = load_api_key(None, env={"RETAILSIM_API_KEY": f" {KEY}\n"})
    assert got is not None and got.get_secret_value() == KEY
    f = tmp_path / "key"
    f.write_text(KEY + "\nignored second line\n")
    f.chmod(0o600)
    got = load_api_key(f, env={"RETAILSIM_API_KEY": "another-key-that-loses"})
    assert got is not None and got.get_secret_value() == KEY


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("abc", "too short"), ("has spaces in the key!!", "printable"), ("é" * 20, "ASCII")],
)
def test_bad_keys_are_refused_without_echoing_them(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "key"
    f.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_api_key(f, env={})
    if content:
        assert content not in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_api_key(tmp_path / "nope", env={})
    with pytest.raises(ConfigError, match="not a regular file"):
        load_api_key(tmp_path, env={})


def test_world_readable_key_file_warns_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = tmp_path / "key"
    f.write_text(KEY)
    f.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="retailsim.api"):
        assert load_api_key(f, env={}) is not None
    assert "chmod 600" in caplog.text
    assert KEY not in caplog.text


def test_key_matches() -> None:
    secret = SecretStr(KEY)
    assert key_matches(KEY, secret)
    assert not key_matches(KEY + "x", secret)
    assert not key_matches("", secret)
    assert not key_matches(None, secret)
    assert not key_matches("ünïcode", secret)


def test_settings_from_env_and_overrides() -> None:
    s = ApiSettings.from_env(env={"RETAILSIM_API_MAX_BATCH": "7", "RETAILSIM_API_MAX_BODY_BYTES": "4096"})
    assert (s.max_batch, s.max_body_bytes, s.api_key) == (7, 4096, None)
    s = ApiSettings.from_env(env={"RETAILSIM_API_MAX_BATCH": "7"}, max_batch=9, max_body_bytes=None)
    assert s.max_batch == 9
    with pytest.raises(ConfigError, match="RETAILSIM_API_MAX_BATCH"):
        ApiSettings.from_env(env={"RETAILSIM_API_MAX_BATCH": "zero"})
    with pytest.raises(ConfigError, match="max_body_bytes"):
        ApiSettings.from_env(env={}, max_body_bytes=1)


def test_settings_never_show_the_key() -> None:
    s = ApiSettings(api_key=SecretStr(KEY))
    assert s.key_required
    for text in (repr(s), str(s), s.model_dump_json()):
        assert KEY not in text
    assert os.environ.get("RETAILSIM_API_KEY") != KEY
