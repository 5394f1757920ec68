"""Settings of the scoring API: limits, the optional API key, worker threads (pydantic, frozen).

Values come from keyword arguments, else from environment variables (``RETAILSIM_API_*``), else defaults:

=============================  ==================================  ===========
setting                        environment variable                default
=============================  ==================================  ===========
``max_batch``                  ``RETAILSIM_API_MAX_BATCH``         5000
``max_body_bytes``             ``RETAILSIM_API_MAX_BODY_BYTES``    1048576
``cache_dates``                ``RETAILSIM_API_CACHE_DATES``       4
``verify_data``                ``RETAILSIM_API_VERIFY_DATA``       true
``api_key``                    ``RETAILSIM_API_KEY``               none
=============================  ==================================  ===========

The API key is a :class:`pydantic.SecretStr`: it never shows in ``repr``, logs or error messages.

>>> ApiSettings(max_batch=10).max_batch
10
>>> "hunter2" in repr(ApiSettings(api_key="hunter2-hunter2-hunter2"))
False
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from retailsim.errors import ConfigError

ENV_PREFIX = "RETAILSIM_API_"
ENV_API_KEY = "RETAILSIM_API_KEY"
#: Environment variable → setting name (the API key is read by :mod:`retailsim.api.security`).
ENV_SETTINGS: dict[str, str] = {
    f"{ENV_PREFIX}MAX_BATCH": "max_batch",
    f"{ENV_PREFIX}MAX_BODY_BYTES": "max_body_bytes",
    f"{ENV_PREFIX}CACHE_DATES": "cache_dates",
    f"{ENV_PREFIX}VERIFY_DATA": "verify_data",
}
#: Hard ceilings: a configuration cannot lift the limits beyond these.
MAX_BATCH_CEILING = 1_000_000
MAX_BODY_CEILING = 256 * 1024 * 1024


class ApiSettings(BaseModel):
    """Limits and options of one running API (immutable once the app is created)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    max_batch: int = Field(
        5000,
        ge=1,
        le=MAX_BATCH_CEILING,
        description="Most customer ids one POST /score may carry (else 413).",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=256,
        le=MAX_BODY_CEILING,
        description="Largest request body in bytes, checked on Content-Length and on the bytes read (else 413).",
    )
    cache_dates: int = Field(
        4,
        ge=0,
        le=64,
        description="How many as-of days keep everyone's scores in memory (the default day is filled at "
        "start-up, others on first use); 0 = no cache: every request computes its customers' features.",
    )
    verify_data: bool = Field(
        True,
        description="At start-up, check every dataset file's SHA-256 against the manifest (sizes always).",
    )
    api_key: SecretStr | None = Field(
        None, description="Key clients must send in the X-API-Key header; None = no key required."
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
        """Settings from ``RETAILSIM_API_*`` variables, with ``overrides`` (non-None) taking precedence.

        Raises
        ------
        ConfigError
            Naming the variable or setting with a bad value.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var, name in ENV_SETTINGS.items():
            raw = env.get(var)
            if raw is not None and raw.strip():
                values[name] = raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            e = err.errors()[0]
            name = ".".join(str(p) for p in e["loc"])
            var = next((v for v, n in ENV_SETTINGS.items() if n == name and n not in overrides), None)
            where = f"{var} ({name})" if var and var in env else name
            raise ConfigError(f"API setting {where}: {e['msg']}") from None

    @property
    def key_required(self) -> bool:
        """Whether requests must carry the API key."""
        return self.api_key is not None
