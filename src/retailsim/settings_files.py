"""Reading settings files and layering settings: the one place every config (generator, quality, loyalty,
ML) does it, so they all fail the same way on a missing file, bad YAML or a file that is not a mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from retailsim.errors import ConfigError


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``extra``, merging nested mappings key by key (neither argument is changed)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_yaml(path: str | Path, what: str, *, mapping: bool = True) -> Any:
    """The YAML document in ``path`` (empty file: ``{}``).

    ``what`` names the file in errors ("ML config file", "rules file"). With ``mapping`` the document must be
    a mapping of settings.

    Raises
    ------
    ConfigError
        The file is missing or unreadable, is not valid YAML, or (``mapping``) is not a mapping.
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {p}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{what} {p} cannot be read: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {p} is not valid YAML: {err}") from None
    if mapping and not isinstance(raw, dict):
        raise ConfigError(f"{what} {p} must hold a mapping of settings, not {type(raw).__name__}")
    return raw
