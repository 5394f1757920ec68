"""Typed configuration of the data-quality checks: limits, tolerances, engine resources.

Every limit the rules use lives here with its documented default, so a YAML file (``retailsim validate
--config quality.yaml``) can change them without touching a rule. The table specification in
:mod:`retailsim.schema` stays the source of types, nullability, allowed values and patterns; the ``ranges``
below override its numeric bounds for the columns they name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retailsim import schema
from retailsim.errors import ConfigError
from retailsim.settings_files import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Bound(_Strict):
    """A numeric range; ``None`` leaves that side open."""

    min: float | None = Field(None, description="Lowest allowed value.")
    max: float | None = Field(None, description="Highest allowed value.")
    min_exclusive: bool = Field(False, description="The minimum itself is not allowed: (min, max].")

    @model_validator(mode="after")
    def _ordered(self) -> Bound:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self

    def text(self) -> str:
        """``[1, 50]``, ``(0, 5000]``, ``≥ 0`` or ``≤ 90``."""
        if self.min is None and self.max is None:
            return "any value"
        if self.max is None:
            return f"{'>' if self.min_exclusive else '≥'} {self.min:g}"
        if self.min is None:
            return f"≤ {self.max:g}"
        return f"{'(' if self.min_exclusive else '['}{self.min:g}, {self.max:g}]"


def _default_ranges() -> dict[str, Bound]:
    return {
        "transaction_lines.quantity": Bound(min=1, max=50),
        "transaction_lines.unit_price": Bound(min=0, max=5000, min_exclusive=True),
        "transaction_lines.discount_pct": Bound(min=0, max=0.8),
        "products.list_price": Bound(min=0, max=5000, min_exclusive=True),
        "products.unit_cost": Bound(min=0, max=5000, min_exclusive=True),
        "promotions.discount_pct": Bound(min=0, max=0.8),
    }


class QualityConfig(_Strict):
    """Limits and settings of ``retailsim validate``. Defaults are the retail rules of thumb."""

    age: Bound = Field(Bound(min=16, max=90), description="Customer age in whole years at the as-of date.")
    ranges: dict[str, Bound] = Field(
        default_factory=_default_ranges,
        description=(
            "Numeric limits per `table.column`, overriding the schema's min/max for that column "
            "(price (0, 5000], quantity 1–50, discount 0–0.80 by default)."
        ),
    )
    money_tolerance: float = Field(
        0.005,
        ge=0,
        le=100,
        description="Amounts differing by more than this are unequal (half a cent: equal to the cent).",
    )
    as_of: dt.datetime | None = Field(
        None,
        description=(
            "Moment the data was extracted: anything on or after it is in the future. Default: the manifest's "
            "horizon end (generated and imported datasets), else now."
        ),
    )
    reference_cities: Path | None = Field(
        None,
        description="CSV with country, city, region columns for the city-in-region rule (default: bundled).",
    )
    quarantine_warnings: bool = Field(
        False, description="Quarantine rows that fail only warning rules too (default: errors only)."
    )
    sample_rows: int = Field(5, ge=0, le=1000, description="Failing rows kept per rule in the report.")
    memory_limit: str = Field("2GB", description="DuckDB memory limit; it spills to disk beyond it.")
    threads: int | None = Field(None, ge=1, le=256, description="DuckDB threads (default: all cores).")
    temp_directory: Path | None = Field(None, description="Where DuckDB spills (default: a temp folder).")

    @field_validator("ranges")
    @classmethod
    def _known_columns(cls, v: dict[str, Bound]) -> dict[str, Bound]:
        for key in v:
            table, _, column = key.partition(".")
            spec = schema.TABLES.get(table)
            if spec is None or column not in spec.column_index:
                raise ValueError(f"ranges: unknown column {key!r}; write it as table.column")
            if not _is_numeric(spec.column(column)):
                raise ValueError(f"ranges: column {key!r} is not numeric")
        return {**_default_ranges(), **v}

    def bound(self, table: str, column: str) -> tuple[Bound | None, str]:
        """Limits of a column and where they come from (``config`` or ``schema``)."""
        key = f"{table}.{column}"
        if key in self.ranges:
            return self.ranges[key], "config"
        c = schema.table(table).column(column)
        if c.min is None and c.max is None:
            return None, "schema"
        return Bound(min=c.min, max=c.max), "schema"


def _is_numeric(c: schema.Column) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(c.type) or pa.types.is_floating(c.type)


def _format_errors(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = f"unknown setting; allowed: {', '.join(sorted(QualityConfig.model_fields))}"
        parts.append(f"{loc}: {msg}")
    return f"invalid quality configuration ({source}): " + "; ".join(parts)


def build_quality_config(data: dict[str, Any] | None = None, *, source: str = "arguments") -> QualityConfig:
    """Validate a mapping into a :class:`QualityConfig`.

    Raises
    ------
    ConfigError
        Naming every offending field.
    """
    try:
        return QualityConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def load_quality_config(path: str | Path) -> QualityConfig:
    """Load a YAML file of quality settings (keys of :class:`QualityConfig`; a ``quality:`` section also works).

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or a value is unknown or out of range.
    """
    p = Path(path)
    raw = read_yaml(p, "quality config file")
    if set(raw) == {"quality"} and isinstance(raw["quality"], dict):
        raw = raw["quality"]
    raw.pop("rules", None)  # a combined file may also hold user rules (see rules.load_user_rules)
    return build_quality_config(raw, source=str(p))
