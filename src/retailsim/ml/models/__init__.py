"""The model registry: every model and baseline by name, built from an :class:`~retailsim.ml.config.MLConfig`."""

from __future__ import annotations

from retailsim.ml.config import MLConfig
from retailsim.ml.features import BG_COLUMNS, FeatureSpec
from retailsim.ml.models.base import SpendModel
from retailsim.ml.models.baselines import BGNBDModel, Last30Model, MeanDailyModel, ZeroModel
from retailsim.ml.models.boosting import BGBoostModel, HurdleModel, TweedieModel, XGBModel
from retailsim.ml.models.ensemble import EnsembleModel
from retailsim.ml.models.neural import GRUModel, LSTMModel, RNNModel
from retailsim.ml.models.sklearn_models import ForestModel, LinearModel

MODEL_CLASSES: dict[str, type[SpendModel]] = {
    cls.name: cls
    for cls in (
        ZeroModel,
        Last30Model,
        MeanDailyModel,
        BGNBDModel,
        HurdleModel,
        TweedieModel,
        LinearModel,
        ForestModel,
        XGBModel,
        BGBoostModel,
        RNNModel,
        LSTMModel,
        GRUModel,
        EnsembleModel,
    )
}


def make_model(name: str, config: MLConfig, spec: FeatureSpec) -> SpendModel:
    """A fresh, unfitted model ``name`` configured from ``config`` for the features of ``spec``."""
    h = spec.horizon_days
    num, cat = tuple(spec.numeric), tuple(spec.categorical)
    seed, threads = config.seed, config.threads
    if name in ("zero", "last30", "mean_daily"):
        return MODEL_CLASSES[name](horizon_days=h)  # type: ignore[call-arg]
    if name == "bgnbd":
        return BGNBDModel(horizon_days=h)
    if name in ("xgb", "tweedie", "hurdle", "bgboost"):
        x = config.xgb
        if name == "bgboost":  # the BG/NBD summaries are its inputs even when not stacked for the others
            num += tuple(c for c in BG_COLUMNS if c not in num)
        return MODEL_CLASSES[name](  # type: ignore[call-arg]
            numeric=num,
            categorical=cat,
            n_estimators=x.n_estimators,
            learning_rate=x.learning_rate,
            max_depth=x.max_depth,
            min_child_weight=x.min_child_weight,
            subsample=x.subsample,
            colsample_bytree=x.colsample_bytree,
            reg_lambda=x.reg_lambda,
            early_stopping_rounds=x.early_stopping_rounds,
            max_bin=x.max_bin,
            seed=seed,
            threads=threads,
            variance_power=x.tweedie_variance_power,
            coverage=config.interval.coverage,
        )
    if name == "lr":
        return LinearModel(numeric=num, categorical=cat)
    if name == "rf":
        r = config.rf
        return ForestModel(
            numeric=num,
            categorical=cat,
            n_estimators=r.n_estimators,
            max_depth=r.max_depth,
            min_samples_leaf=r.min_samples_leaf,
            max_features=r.max_features,
            max_samples=r.max_samples,
            seed=seed,
            threads=r.n_jobs,
        )
    if name in ("rnn", "lstm", "gru"):
        n = config.nn
        return MODEL_CLASSES[name](  # type: ignore[call-arg]
            numeric=num,
            categorical=cat,
            sequence_weeks=spec.sequence_weeks,
            hidden_size=n.hidden_size,
            static_size=n.static_size,
            epochs=n.epochs,
            patience=n.patience,
            batch_size=n.batch_size,
            learning_rate=n.learning_rate,
            weight_decay=n.weight_decay,
            max_train_rows=n.max_train_rows,
            seed=seed,
            threads=threads,
            device=n.device,
        )
    raise KeyError(f"unknown model {name!r}; known: {', '.join(MODEL_CLASSES)}")


__all__ = [
    "MODEL_CLASSES",
    "BGBoostModel",
    "BGNBDModel",
    "EnsembleModel",
    "ForestModel",
    "GRUModel",
    "HurdleModel",
    "LSTMModel",
    "Last30Model",
    "LinearModel",
    "MeanDailyModel",
    "RNNModel",
    "SpendModel",
    "TweedieModel",
    "XGBModel",
    "ZeroModel",
    "make_model",
]
