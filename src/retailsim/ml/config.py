"""Typed configuration of dataset building, the backtest and every model (pydantic, strict, frozen).

>>> from retailsim.ml.config import MLConfig, build_ml_config
>>> cfg = build_ml_config(sets=["models=lr,xgb", "nn.epochs=5"])
>>> cfg.models
('lr', 'xgb')
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retailsim.config import parse_set
from retailsim.errors import ConfigError
from retailsim.settings_files import deep_merge, read_yaml

ModelName = Literal[
    "zero",
    "last30",
    "mean_daily",
    "bgnbd",
    "hurdle",
    "tweedie",
    "lr",
    "rf",
    "xgb",
    "bgboost",
    "rnn",
    "lstm",
    "gru",
]
#: Every trainable model and baseline, in leaderboard order.
ALL_MODELS: tuple[str, ...] = get_args(ModelName)
#: Named model sets accepted wherever a model list is.
MODEL_SETS: dict[str, tuple[str, ...]] = {
    "all": ALL_MODELS,
    "fast": ("zero", "last30", "mean_daily", "bgnbd", "hurdle", "lr", "xgb", "bgboost"),
    "baselines": ("zero", "last30", "mean_daily", "bgnbd", "hurdle"),
    "six": ("lr", "rf", "xgb", "rnn", "lstm", "gru"),
    "nn": ("rnn", "lstm", "gru"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class XGBConfig(_Strict):
    """Gradient-boosted trees (XGBoost ``hist``), shared by ``xgb``, ``tweedie`` and the hurdle parts."""

    n_estimators: int = Field(500, ge=1, le=20_000, description="Maximum boosting rounds.")
    learning_rate: float = Field(0.08, gt=0, le=1)
    max_depth: int = Field(6, ge=1, le=16)
    min_child_weight: float = Field(5.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    max_bin: int = Field(128, ge=2, le=1024, description="Histogram bins per feature.")
    early_stopping_rounds: int = Field(30, ge=1, description="Stop when the validation cutoff stalls.")
    tweedie_variance_power: float = Field(1.5, gt=1, lt=2)


class RFConfig(_Strict):
    """Random forest (scikit-learn)."""

    n_estimators: int = Field(60, ge=1, le=2000)
    max_depth: int | None = Field(12, ge=1, le=64)
    min_samples_leaf: int = Field(30, ge=1)
    max_features: float = Field(0.3, gt=0, le=1, description="Share of features tried at each split.")
    max_samples: int = Field(
        50_000, ge=100, description="Bootstrap rows per tree (caps time and artifact size)."
    )
    n_jobs: int = Field(2, ge=1, le=256, description="Trees built in parallel (threads; deterministic).")


class NNConfig(_Strict):
    """Recurrent networks (PyTorch): a sequence encoder beside an MLP on the static features."""

    hidden_size: int = Field(32, ge=2, le=1024)
    static_size: int = Field(64, ge=2, le=4096)
    epochs: int = Field(25, ge=1, le=1000, description="Maximum epochs (early stopping usually ends first).")
    patience: int = Field(3, ge=1, le=100, description="Epochs without validation improvement before stop.")
    batch_size: int = Field(512, ge=8, le=65_536)
    learning_rate: float = Field(2e-3, gt=0, le=1)
    weight_decay: float = Field(1e-5, ge=0)
    max_train_rows: int | None = Field(
        120_000,
        ge=100,
        description="Train the networks on at most this many (customer, cutoff) rows, sampled by seed; "
        "None = all. Keeps CPU time bounded on large presets; reported in the leaderboard.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when available.")


class BGConfig(_Strict):
    """BG/NBD + Gamma-Gamma (maximum likelihood, refitted as of every cutoff and the last day of data)."""

    max_fit_customers: int = Field(
        20_000, ge=50, description="Fit the population parameters on at most this many customers (by seed)."
    )


class IntervalConfig(_Strict):
    """P(buy) and the prediction interval (hurdle classifier + zero-inflated log-normal spend)."""

    coverage: float = Field(0.8, gt=0.05, lt=0.995, description="Nominal coverage of the interval.")


class MLConfig(_Strict):
    """Everything that determines a training run (with the data)."""

    seed: int = Field(42, ge=0, le=2**32 - 1)
    horizon_days: int = Field(30, ge=1, le=365, description="Length of the label window in days.")
    cutoffs: tuple[dt.date, ...] | None = Field(
        None,
        description="Explicit cutoffs, ascending: the last is the test cutoff, the one before it the "
        "validation cutoff, the rest are training cutoffs. None = derived from 'every'.",
    )
    every: str = Field(
        "1M", description="Cutoff spacing when 'cutoffs' is not given: 1M (month ends), 2W, 14D …"
    )
    train_cutoffs: int = Field(12, ge=1, le=120, description="At most this many training cutoffs (latest).")
    min_history_days: int = Field(
        56, ge=0, le=3650, description="First cutoff at least this many days after the first transaction."
    )
    models: tuple[ModelName, ...] = Field(
        MODEL_SETS["fast"],
        description="Models to train (or a set name). BG/NBD + Gamma-Gamma joins the leaderboard whatever the "
        "list: it is the anchor users compare with.",
    )
    threads: int = Field(
        1,
        ge=1,
        le=256,
        description="CPU threads for model training (XGBoost, forests, torch). 1 is fastest on a busy shared "
        "machine (OpenMP threads spin while they wait for a core).",
    )
    sql_threads: int = Field(2, ge=1, le=256, description="DuckDB threads for building features.")
    sequence_weeks: int = Field(52, ge=4, le=260, description="Weeks of history in the recurrent input.")
    refit: bool = Field(
        False,
        description="Refit the champion on every cutoff (validation and test included) before saving. Off: "
        "the saved model is exactly the one the leaderboard evaluated.",
    )
    bgnbd_features: bool = Field(
        True,
        description="Stack BG/NBD + Gamma-Gamma (fitted on the history up to each cutoff) as three features of "
        "every other model: expected purchase days, P(alive), expected spend.",
    )
    ensemble: bool = Field(
        True,
        description="Also blend the trained models (non-negative weights fitted on the validation cutoff) and "
        "let the blend compete for champion with a cross-fitted validation RMSE.",
    )
    champion_margin_se: float = Field(
        1.0,
        ge=0,
        le=10,
        description="A model not anchored to BG/NBD + GG (bgnbd, bgboost) becomes champion only if it beats "
        "BG/NBD + GG on the validation cutoff by more than this many standard errors of the paired difference "
        "in squared error; 0 = plain lowest validation RMSE.",
    )
    save: Literal["champion", "all", "none"] = Field("champion", description="Which models to save.")
    report: bool = Field(True, description="Write leaderboard.json and report.html beside the models.")
    xgb: XGBConfig = XGBConfig()
    rf: RFConfig = RFConfig()
    nn: NNConfig = NNConfig()
    bgnbd: BGConfig = BGConfig()
    interval: IntervalConfig = IntervalConfig()

    @field_validator("models", mode="before")
    @classmethod
    def _expand_sets(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [p.strip() for p in v.split(",") if p.strip()]
        if isinstance(v, list | tuple):
            out: list[str] = []
            for name in v:
                for m in MODEL_SETS.get(str(name), (name,)):
                    if m not in out:
                        out.append(m)
            return tuple(out)
        return v

    @field_validator("every")
    @classmethod
    def _every(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[1-9][0-9]*[DWM]", v):
            raise ValueError("must be <n>D, <n>W or <n>M, e.g. 1M, 2W, 14D")
        return v

    @model_validator(mode="after")
    def _check(self) -> MLConfig:
        if not self.models:
            raise ValueError(f"models must name at least one of {', '.join(ALL_MODELS)}")
        if self.cutoffs is not None:
            if len(self.cutoffs) < 3:
                raise ValueError("cutoffs needs at least 3 dates: training…, validation, test")
            if list(self.cutoffs) != sorted(set(self.cutoffs)):
                raise ValueError("cutoffs must be strictly increasing")
        return self


def _format(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown setting"
        elif e["type"] == "literal_error" and loc.startswith("models"):
            msg = f"unknown model; allowed: {', '.join(ALL_MODELS)} or a set: {', '.join(MODEL_SETS)}"
        parts.append(f"{loc}: {msg}")
    return f"invalid ML configuration ({source}): " + "; ".join(parts)


def build_ml_config(
    overrides: dict[str, Any] | None = None,
    *,
    sets: list[str] | None = None,
    path: str | Path | None = None,
) -> MLConfig:
    """Build a validated :class:`MLConfig` from a YAML file, a mapping and ``a.b=value`` strings (in order).

    Raises
    ------
    ConfigError
        Naming every offending field.
    """
    data: dict[str, Any] = {}
    source = "arguments"
    if path is not None:
        p = Path(path)
        source = str(p)
        raw = read_yaml(p, "ML config file")
        data = deep_merge(data, raw)
    if overrides:
        data = deep_merge(data, overrides)
    for item in sets or []:
        parsed = parse_set(item)
        if "models" in parsed and not isinstance(parsed["models"], list | tuple | str):
            parsed["models"] = str(parsed["models"])
        data = deep_merge(data, parsed)
    try:
        return MLConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err, source)) from None
