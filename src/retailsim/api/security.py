"""The optional API key: where it comes from, when it is required, and how a request is checked.

- The key comes from the ``RETAILSIM_API_KEY`` environment variable or from a key file
  (``retailsim serve --api-key-file F``); never from the command line, where ``ps`` and shell history show it.
- It is required whenever the server binds to anything but a loopback address (:func:`check_bind`).
- Clients send it in the ``X-API-Key`` header; it is compared with :func:`hmac.compare_digest` (constant time)
  and never logged or echoed.

>>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
(True, True, True, False)
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from retailsim.api.settings import ENV_API_KEY
from retailsim.errors import ConfigError

log = logging.getLogger("retailsim.api")

HEADER = "X-API-Key"
#: Shortest key accepted (a guessable key is no protection).
MIN_KEY_LENGTH = 16
#: Largest key file read (a key, not a document).
MAX_KEY_FILE_BYTES = 4096

#: The header as an OpenAPI security scheme (``auto_error=False``: :func:`require_api_key` answers 401).
api_key_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="API key (required when the server is configured with one)."
)


class AuthError(Exception):
    """A request without the right API key (HTTP 401; the message never contains a key)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, ``localhost``)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _validated(key: str, source: str) -> SecretStr:
    key = key.strip()
    if not key:
        raise ConfigError(f"the API key from {source} is empty")
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"the API key from {source} is too short: use at least {MIN_KEY_LENGTH} characters")
    if any(not c.isprintable() or c.isspace() for c in key) or not key.isascii():
        raise ConfigError(f"the API key from {source} must be printable ASCII without spaces")
    return SecretStr(key)


def load_api_key(key_file: Path | None = None, env: Mapping[str, str] | None = None) -> SecretStr | None:
    """The API key from ``key_file`` (first line) or else the ``RETAILSIM_API_KEY`` variable; None if neither.

    A key file readable by other users is accepted with a warning (``chmod 600`` it).

    Raises
    ------
    ConfigError
        When the file is missing, unreadable or too large, or the key is empty, short or not printable ASCII.
    """
    env = os.environ if env is None else env
    if key_file is not None:
        p = Path(key_file)
        try:
            st = p.stat()
        except OSError:
            raise ConfigError(f"API key file not found or unreadable: {p}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"API key file is not a regular file: {p}")
        if st.st_size > MAX_KEY_FILE_BYTES:
            raise ConfigError(f"API key file {p} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key")
        if st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning("API key file %s is readable by other users; consider chmod 600", p)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"API key file {p} could not be read as UTF-8 text") from None
        lines = text.splitlines()
        return _validated(lines[0] if lines else "", f"file {p}")
    raw = env.get(ENV_API_KEY)
    if raw is None or not raw.strip():
        return None
    return _validated(raw, f"the {ENV_API_KEY} environment variable")


def check_bind(host: str, api_key: SecretStr | None) -> None:
    """Refuse to serve on a non-loopback ``host`` without an API key.

    Raises
    ------
    ConfigError
        When ``host`` is reachable from other machines and no key is configured.
    """
    if not is_loopback(host) and api_key is None:
        raise ConfigError(
            f"refusing to bind to {host}, which other machines can reach, without an API key: set "
            f"{ENV_API_KEY} or pass --api-key-file (or bind to 127.0.0.1)"
        )


def key_matches(given: str | None, expected: SecretStr) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.get_secret_value().encode("utf-8"))


def require_api_key(request: Request, given: Annotated[str | None, Security(api_key_header)] = None) -> None:
    """FastAPI dependency: pass when no key is configured or the ``X-API-Key`` header matches it.

    Raises
    ------
    AuthError
        Turned into HTTP 401 by the app's error handlers.
    """
    expected: SecretStr | None = request.app.state.settings.api_key
    if expected is None:
        return
    if given is None:
        raise AuthError(f"missing API key: send it in the {HEADER} header")
    if not key_matches(given, expected):
        raise AuthError("invalid API key")
