"""Baselines every user should see beside the models: zero, last window, mean daily spend, BG/NBD + GG."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from retailsim.ml.models.base import SpendModel


class ZeroModel(SpendModel):
    """Predicts no spend for everyone (most customers buy nothing in a month)."""

    name = "zero"
    kind = "baseline"

    def __init__(self, horizon_days: int = 30) -> None:
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> ZeroModel:
        self.fitted_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))


class Last30Model(SpendModel):
    """Spend of the last 30 days, scaled to the horizon: "next month looks like last month"."""

    name = "last30"
    kind = "baseline"

    def __init__(self, horizon_days: int = 30) -> None:
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> Last30Model:
        self.fitted_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["spend_30"].to_numpy(dtype=np.float64) * (self.horizon_days / 30)


class MeanDailyModel(SpendModel):
    """Historical mean daily spend (all observed days since joining) × horizon."""

    name = "mean_daily"
    kind = "baseline"

    def __init__(self, horizon_days: int = 30) -> None:
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> MeanDailyModel:
        self.fitted_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["daily_spend_all"].to_numpy(dtype=np.float64) * self.horizon_days


# -------------------------------------------------------------------------------------------------------
# BG/NBD + Gamma-Gamma
# -------------------------------------------------------------------------------------------------------
class BGNBDModel(SpendModel):
    """BG/NBD (purchase days) × Gamma-Gamma (spend per purchase day): the customer-base analysis anchor.

    The population parameters belong to a date, not to the model: the feature builder adds
    ``bg_expected_spend`` (:func:`~retailsim.ml.features.add_bgnbd_columns`) with parameters fitted on every
    customer's history up to that date — at each backtest cutoff, the parameters a user of BG/NBD would have
    fitted on that day; when serving, those stored with the model's feature spec (fitted on the training data
    up to its last day). This model reads that column: its level follows the customer base as it ages, which
    is what the learned models are compared with past their training cutoffs. Customers without a purchase
    yet get the ``cold_start`` constant (the training mean of such customers' spend).
    """

    name = "bgnbd"
    kind = "baseline"

    def __init__(self, horizon_days: int = 30) -> None:
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> BGNBDModel:
        _require_bg(X)
        self.fitted_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        _require_bg(X)
        return np.maximum(X["bg_expected_spend"].to_numpy(dtype=np.float64), 0.0)


def _require_bg(X: pd.DataFrame) -> None:
    if "bg_expected_spend" not in X.columns:
        raise ValueError("the frame has no BG/NBD columns: build it with a feature spec whose bgnbd is set")
