"""Typed configuration of a simulation run: pydantic models, presets, YAML and ``--set`` overrides.

Every behavioural parameter of the simulator lives here with its documented default. Unknown keys and
out-of-range values fail with one :class:`~retailsim.errors.ConfigError` that names the field.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retailsim.errors import ConfigError
from retailsim.settings_files import deep_merge, read_yaml

Locale = Literal["en_US", "en_GB", "de_DE", "fr_FR"]
PresetName = Literal["tiny", "small", "demo", "medium", "large"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Horizon(_Strict):
    """The observed period."""

    start: dt.date = Field(dt.date(2024, 1, 1), description="First day of observed transactions.")
    months: int = Field(18, ge=1, le=120, description="Length of the observed period in months.")

    @property
    def end(self) -> dt.date:
        """First day after the horizon (exclusive end)."""
        y, m = divmod(self.start.month - 1 + self.months, 12)
        return self.start.replace(year=self.start.year + y, month=m + 1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


class FormatMix(_Strict):
    """Share of physical stores of each format (normalised); online stores are counted separately."""

    hypermarket: float = Field(0.12, ge=0)
    supermarket: float = Field(0.5, ge=0)
    convenience: float = Field(0.38, ge=0)


class StoresConfig(_Strict):
    count: int = Field(25, ge=1, le=20_000, description="Physical stores.")
    online: int = Field(1, ge=0, le=10, description="Online shops.")
    format_mix: FormatMix = FormatMix()
    new_share: float = Field(0.1, ge=0, le=0.9, description="Share of stores opening during the horizon.")


class ProductsConfig(_Strict):
    count: int = Field(3000, ge=50, le=500_000, description="Number of SKUs.")
    new_share: float = Field(0.06, ge=0, le=0.5, description="Share of SKUs launched during the horizon.")
    popularity_zipf: float = Field(
        1.05, gt=0, le=3, description="Zipf exponent of popularity in a subcategory."
    )
    brands_per_department: int = Field(8, ge=1, le=200)
    private_label_brand: str = Field("Good Basket", min_length=1)
    price_scale: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Multiplier on every list price (a calibrated twin of a non-grocery log sets it).",
    )


class GammaTrait(_Strict):
    """A gamma-distributed latent trait, given by its mean and shape (shape = 1/CV²)."""

    mean: float = Field(gt=0)
    shape: float = Field(gt=0)


class BetaTrait(_Strict):
    """A beta-distributed latent trait, given by its mean and concentration (a + b)."""

    mean: float = Field(gt=0, lt=1)
    concentration: float = Field(gt=0)


class WelcomeConfig(_Strict):
    """A burst of repeat visits right after signup (onboarding, welcome offers); off by default."""

    boost: float = Field(
        1.0,
        ge=1,
        le=50,
        description="Purchase-rate multiplier during a new customer's first `days` days (1 = no burst).",
    )
    days: float = Field(30.0, gt=0, le=365, description="Length of the welcome period after signup, in days.")


class CustomersConfig(_Strict):
    count: int = Field(10_000, ge=1, le=1_000_000_000, description="Loyalty-card holders.")
    locale: Locale = Field("en_US", description="Names, addresses and cities come from this locale.")
    existing_share: float = Field(
        0.45, ge=0, le=1, description="Share already signed up before the horizon (alive at its start)."
    )
    signup_window_days: int | None = Field(
        None,
        ge=1,
        le=3660,
        description="New customers sign up within this many days from the horizon start, by shopping "
        "intensity (None: over the whole horizon). A twin of a log of one acquisition cohort sets it.",
    )
    purchase_rate: GammaTrait = Field(
        GammaTrait(mean=1 / 16, shape=0.8), description="Visits per day while active (NBD heterogeneity)."
    )
    lifetime_days: GammaTrait = Field(
        GammaTrait(mean=1 / 420, shape=1.5),
        description="Dropout hazard per day (Pareto/NBD: exponential lifetime, gamma across customers).",
    )
    welcome: WelcomeConfig = Field(
        WelcomeConfig(),
        description="Customers who sign up during the horizon shop `boost` times as often for `days` days.",
    )
    basket_lines: GammaTrait = Field(
        GammaTrait(mean=4.5, shape=2.5), description="Mean extra lines per basket at a supermarket."
    )
    habit: BetaTrait = Field(
        BetaTrait(mean=0.4, concentration=6), description="Share of lines from favourites."
    )
    favourites: int = Field(12, ge=1, le=200, description="Number of habitual products per customer.")
    promo_sensitivity: BetaTrait = Field(BetaTrait(mean=0.1, concentration=8))
    private_label_affinity: BetaTrait = Field(BetaTrait(mean=0.22, concentration=5))
    online_share: BetaTrait = Field(BetaTrait(mean=0.06, concentration=2))
    home_store_loyalty: float = Field(0.85, ge=0, le=1, description="Probability a store visit is at home.")
    category_concentration: float = Field(
        0.6, gt=0, description="Dirichlet concentration per department: low = narrow category tastes."
    )
    department_weights: dict[str, float] = Field(
        default_factory=lambda: {"Home & Leisure": 0.6},
        description="Relative weight of a department in shoppers' mean preferences (multiplies its share "
        "of subcategories; departments not listed weigh 1). Non-food is bought less often than its range.",
    )
    female_share: float = Field(0.52, ge=0, le=1)
    age_mean: float = Field(46, ge=16, le=90)
    age_sd: float = Field(16, gt=0)
    marketing_opt_in: float = Field(0.62, ge=0, le=1)

    @model_validator(mode="after")
    def _positive_weights(self) -> CustomersConfig:
        if any(not 0 < w <= 100 for w in self.department_weights.values()):
            raise ValueError("department_weights values must be > 0 and <= 100")
        return self


class BasketConfig(_Strict):
    format_factor: dict[Literal["hypermarket", "supermarket", "convenience", "online"], float] = Field(
        default_factory=lambda: {"hypermarket": 1.5, "supermarket": 1.0, "convenience": 0.35, "online": 1.4},
        description="Multiplier of the customer's basket size by store format.",
    )
    extra_quantity_mean: float = Field(0.3, ge=0, le=20, description="Units per line beyond the first.")
    promo_extra_quantity_mean: float = Field(0.8, ge=0, le=20, description="Same, on promoted lines.")

    @model_validator(mode="after")
    def _all_formats(self) -> BasketConfig:
        missing = {"hypermarket", "supermarket", "convenience", "online"} - set(self.format_factor)
        if missing:
            raise ValueError(f"format_factor is missing {sorted(missing)}")
        if any(v <= 0 for v in self.format_factor.values()):
            raise ValueError("format_factor values must be > 0")
        return self


class Holiday(_Strict):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    lift: float = Field(gt=0, description="Intensity multiplier on the day (below 1 for closing days).")
    ramp_days: int = Field(0, ge=0, le=60, description="Days before the day over which the lift builds up.")


class SeasonalityConfig(_Strict):
    weekday_weights: tuple[float, float, float, float, float, float, float] = Field(
        (0.86, 0.82, 0.88, 0.96, 1.16, 1.38, 0.94), description="Monday..Sunday relative intensity."
    )
    yearly_amplitude: float = Field(0.07, ge=0, lt=1, description="Amplitude of the smooth yearly cycle.")
    yearly_peak_day: int = Field(350, ge=1, le=366, description="Day of year at the top of the cycle.")
    december_lift: float = Field(1.08, gt=0, description="Extra multiplier on every December day.")
    holidays: tuple[Holiday, ...] = (
        Holiday(month=12, day=23, lift=1.6, ramp_days=10),
        Holiday(month=12, day=24, lift=1.5),
        Holiday(month=12, day=25, lift=0.15),
        Holiday(month=12, day=26, lift=0.5),
        Holiday(month=12, day=31, lift=1.4),
        Holiday(month=1, day=1, lift=0.2),
    )
    month_factors: dict[str, float] = Field(
        default_factory=dict,
        description="Extra multiplier on every day of a calendar month, keyed 'YYYY-MM' (campaigns, a "
        "launch, a calibrated log's month-by-month activity); months not listed get 1.",
    )

    @model_validator(mode="after")
    def _check_month_factors(self) -> SeasonalityConfig:
        for key, value in self.month_factors.items():
            try:
                dt.date.fromisoformat(f"{key}-01")
            except ValueError:
                raise ValueError(f"month_factors keys must be 'YYYY-MM' (got {key!r})") from None
            if not 0 < value <= 100:
                raise ValueError(f"month_factors values must be > 0 and <= 100 (got {value!r} for {key})")
        return self


class PromotionsConfig(_Strict):
    per_month: float = Field(80, ge=0, description="Chain-wide promotions started per month.")
    duration_days: tuple[int, int] = Field((7, 21), description="Min and max length in days.")
    discounts: tuple[float, ...] = Field((0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5))
    web_exclusive_share: float = Field(0.15, ge=0, le=1, description="Extra promotions only in online shops.")

    @model_validator(mode="after")
    def _check(self) -> PromotionsConfig:
        lo, hi = self.duration_days
        if not 1 <= lo <= hi <= 120:
            raise ValueError("duration_days must satisfy 1 <= min <= max <= 120")
        if not self.discounts or any(not 0.01 <= d <= 0.8 for d in self.discounts):
            raise ValueError("discounts must be non-empty, each in [0.01, 0.8]")
        return self


class AnonymousConfig(_Strict):
    share: float = Field(0.1, ge=0, le=0.9, description="Share of transactions without a loyalty card.")


class SimConfig(_Strict):
    """Everything that determines a generated dataset (with the seed)."""

    preset: PresetName | None = Field(None, description="Preset these values started from (informational).")
    seed: int = Field(42, ge=0, le=2**63 - 1)
    shard_customers: int = Field(
        5000,
        ge=10,
        le=10_000_000,
        description="Customers per shard: the unit of seeding (each shard draws from its own random streams).",
    )
    shards_per_task: int = Field(
        3,
        ge=1,
        le=10_000,
        description=(
            "Shards one task simulates and writes together: the unit of parallel work and of files (larger "
            "tasks: fewer, larger files and less work per line; the rows do not change)."
        ),
    )
    horizon: Horizon = Horizon()
    stores: StoresConfig = StoresConfig()
    products: ProductsConfig = ProductsConfig()
    customers: CustomersConfig = CustomersConfig()
    baskets: BasketConfig = BasketConfig()
    seasonality: SeasonalityConfig = SeasonalityConfig()
    promotions: PromotionsConfig = PromotionsConfig()
    anonymous: AnonymousConfig = AnonymousConfig()

    @property
    def n_shards(self) -> int:
        return -(-self.customers.count // self.shard_customers)

    @property
    def n_tasks(self) -> int:
        """Tasks of customers (the dimension tables are one more)."""
        return -(-self.n_shards // self.shards_per_task)


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "customers": {"count": 400},
        "stores": {"count": 6},
        "products": {"count": 300},
        "horizon": {"months": 8},
        "shard_customers": 100,
        "shards_per_task": 2,
    },
    "small": {
        "customers": {"count": 2000},
        "stores": {"count": 10},
        "products": {"count": 800},
        "horizon": {"months": 12},
        "shard_customers": 500,
    },
    "demo": {},
    "medium": {
        "customers": {"count": 100_000},
        "stores": {"count": 120},
        "products": {"count": 6000},
        "shard_customers": 5000,
    },
    "large": {
        "customers": {"count": 1_000_000},
        "stores": {"count": 600},
        "products": {"count": 12000},
        "horizon": {"months": 24},
        "shard_customers": 20000,
        "shards_per_task": 1,
    },
}


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = f"unknown setting; allowed here: {', '.join(_allowed_keys(e['loc']))}"
        got = e.get("input")
        got_txt = (
            "" if e["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {got!r})"
        )
        lines.append(f"{loc}: {msg}{got_txt}")
    return f"invalid configuration ({source}): " + "; ".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = SimConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            break
    return sorted(model.model_fields)


def build_config(
    preset: str | None = "demo",
    *,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    source: str = "arguments",
) -> SimConfig:
    """Build a validated :class:`SimConfig` from a preset, a mapping of overrides and ``a.b=value`` strings.

    Raises
    ------
    ConfigError
        With every offending field named, when a value is unknown or out of range.
    """
    # start from every default so a nested override (customers.habit.mean=0.5) keeps its siblings
    data: dict[str, Any] = SimConfig().model_dump()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
        data = deep_merge(data, {**PRESETS[preset], "preset": preset})
    if overrides:
        data = deep_merge(data, overrides)
    for item in sets or []:
        data = deep_merge(data, parse_set(item))
    try:
        return SimConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None


def parse_set(item: str) -> dict[str, Any]:
    """Turn ``customers.count=200000`` into ``{"customers": {"count": 200000}}`` (value parsed as YAML)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set expects KEY=VALUE with a dotted key, e.g. customers.count=20000; got {item!r}"
        )
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def load_config(path: str | Path, *, sets: list[str] | None = None) -> SimConfig:
    """Load a YAML config file (optionally naming a ``preset`` to start from), then apply ``--set`` items."""
    p = Path(path)
    raw = read_yaml(p, "config file")
    preset = raw.pop("preset", None)
    return build_config(preset, overrides=raw, sets=sets, source=str(p))


def dump_config(config: SimConfig) -> str:
    """YAML text that :func:`load_config` turns back into ``config``."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
