"""Next-30-day spend prediction: leakage-free datasets, models and honest baselines, safe serving.

>>> from retailsim.ml import train, load_model, Basket, BasketItem, MLConfig     # doctest: +SKIP
>>> result = train("data/demo", MLConfig(models=("fast",)))                    # doctest: +SKIP
>>> predictor = load_model("data/demo")          # <dataset>/models/champion.json    doctest: +SKIP
>>> predictor.predict_customer("data/demo", 42)  # Prediction(spend=…, p_buy=…, lo=…, hi=…)  doctest: +SKIP
>>> predictor.score("data/demo", [1, 2, 3])      # DataFrame with a status per row       doctest: +SKIP

See ``docs/ml.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = (
    "ArtifactError",
    "AsOfError",
    "Basket",
    "BasketError",
    "BasketItem",
    "CustomerNotKnownYet",
    "Driver",
    "FeatureSpec",
    "MLConfig",
    "MLError",
    "NotEnoughDataError",
    "Prediction",
    "Predictor",
    "SchemaMismatchError",
    "TrainResult",
    "UnknownCustomerError",
    "UnknownProductError",
    "UnknownStoreError",
    "build_features",
    "build_ml_config",
    "dataset_table",
    "load_model",
    "plan_cutoffs",
    "plan_features",
    "train",
)

if TYPE_CHECKING:
    from retailsim.ml.basket import Basket, BasketItem
    from retailsim.ml.config import MLConfig, build_ml_config
    from retailsim.ml.errors import (
        ArtifactError,
        AsOfError,
        BasketError,
        CustomerNotKnownYet,
        MLError,
        NotEnoughDataError,
        SchemaMismatchError,
        UnknownCustomerError,
        UnknownProductError,
        UnknownStoreError,
    )
    from retailsim.ml.features import FeatureSpec, build_features, plan_cutoffs, plan_features
    from retailsim.ml.predict import Driver, Prediction, Predictor, load_model
    from retailsim.ml.train import TrainResult, dataset_table, train

_LAZY = {
    "Basket": "retailsim.ml.basket",
    "BasketItem": "retailsim.ml.basket",
    "MLConfig": "retailsim.ml.config",
    "build_ml_config": "retailsim.ml.config",
    "FeatureSpec": "retailsim.ml.features",
    "build_features": "retailsim.ml.features",
    "plan_cutoffs": "retailsim.ml.features",
    "plan_features": "retailsim.ml.features",
    "Driver": "retailsim.ml.predict",
    "Prediction": "retailsim.ml.predict",
    "Predictor": "retailsim.ml.predict",
    "load_model": "retailsim.ml.predict",
    "TrainResult": "retailsim.ml.train",
    "dataset_table": "retailsim.ml.train",
    "train": "retailsim.ml.train",
    **{
        name: "retailsim.ml.errors"
        for name in (
            "ArtifactError",
            "AsOfError",
            "BasketError",
            "CustomerNotKnownYet",
            "MLError",
            "NotEnoughDataError",
            "SchemaMismatchError",
            "UnknownCustomerError",
            "UnknownProductError",
            "UnknownStoreError",
        )
    },
}


def __getattr__(name: str) -> Any:  # lazy: `retailsim --help` imports this package and must stay fast
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'retailsim.ml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
