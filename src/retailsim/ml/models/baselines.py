"""Baselines every user should see beside the models: zero, last window, mean daily spend, BG/NBD + GG."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from retailsim.ml.clv import bgnbd_expected_purchases, gamma_gamma_spend
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
def _fit_pymc(rfm: pd.DataFrame) -> tuple[dict[str, float], dict[str, float], tuple[Any, Any]]:
    """MAP fit of BG/NBD and Gamma-Gamma with pymc-marketing (third-party noise silenced narrowly); returns
    the parameters and the fitted pymc-marketing models."""
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"(pymc|pytensor|arviz|xarray).*")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"(pymc|pytensor|scipy).*")
        # pytensor's compile cache and pymc's sampler notices (a cache lock, a BLAS fallback …) come and go
        # with the machine's state: under ``-W error`` one of them made the fit fail now and then
        warnings.filterwarnings(
            "ignore", category=UserWarning, module=r"(pymc|pytensor|arviz|pymc_marketing).*"
        )
        bg = BetaGeoModel()
        bg.fit(rfm[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False)
        bg_params = {k: float(bg.fit_result[k].values.mean()) for k in ("r", "alpha", "a", "b")}
        rep = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
        gg = None
        if len(rep) >= 10:
            gg = GammaGammaModel()
            gg.fit(rep[["customer_id", "frequency", "monetary_value"]], method="map", progressbar=False)
            gg_params = {k: float(gg.fit_result[k].values.mean()) for k in ("p", "q", "v")}
        else:  # too few repeat buyers: a flat prior at the mean spend
            mean = float(rfm["monetary_value"].mean()) if len(rfm) else 0.0
            gg_params = {"p": 1.0, "q": 2.0, "v": mean}
    return bg_params, gg_params, (bg, gg)


class BGNBDModel(SpendModel):
    """BG/NBD (purchase days) × Gamma-Gamma (spend per purchase day), fitted with pymc-marketing (MAP).

    The population parameters are fitted on the latest training cutoff's RFM summaries (``bg_*`` features:
    repeat purchase days, recency and age in days, mean spend of repeat days), on at most
    ``max_fit_customers`` customers drawn by ``seed``. Predictions use the closed forms with those parameters
    (checked against pymc-marketing in the tests). Customers with no purchase yet get the training mean of
    such customers' spend (a cold-start constant).
    """

    name = "bgnbd"
    kind = "baseline"

    def __init__(self, horizon_days: int = 30, max_fit_customers: int = 20_000, seed: int = 0) -> None:
        self.horizon_days = horizon_days
        self.max_fit_customers = max_fit_customers
        self.seed = seed

    @staticmethod
    def rfm(X: pd.DataFrame) -> pd.DataFrame:
        """The RFM summary pymc-marketing expects, for customers with at least one purchase."""
        buyers = X["has_purchase"].to_numpy() > 0
        return pd.DataFrame(
            {
                "customer_id": X["customer_id"].to_numpy()[buyers],
                "frequency": X["bg_frequency"].to_numpy()[buyers],
                "recency": X["bg_recency"].to_numpy()[buyers],
                "T": X["bg_T"].to_numpy()[buyers],
                "monetary_value": X["bg_monetary"].to_numpy()[buyers],
            }
        )

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> BGNBDModel:
        y = np.asarray(y, dtype=np.float64)
        latest = X["cutoff"].to_numpy() == X["cutoff"].max()
        rfm = self.rfm(X[latest])
        if len(rfm) > self.max_fit_customers:
            rng = np.random.default_rng(self.seed)
            rfm = rfm.iloc[np.sort(rng.choice(len(rfm), self.max_fit_customers, replace=False))]
        rfm = rfm.reset_index(drop=True)
        self._pymc: tuple[Any, Any] | None = None  # the fitted pymc-marketing models (in memory only)
        if len(rfm) < 10:
            self.bg_params_ = {"r": 1.0, "alpha": 1.0, "a": 2.0, "b": 2.0}
            self.gg_params_ = {"p": 1.0, "q": 2.0, "v": 0.0}
        else:
            self.bg_params_, self.gg_params_, self._pymc = _fit_pymc(rfm)
        cold = X["has_purchase"].to_numpy() == 0
        self.cold_start_ = float(y[cold].mean()) if cold.any() else 0.0
        self.fit_info_ = {
            "fit_customers": len(rfm),
            "fit_cutoff": str(pd.Timestamp(X["cutoff"].max()).date()),
        }
        return self

    def export(self) -> dict[str, Any]:
        """The fitted parameters as JSON (what :attr:`FeatureSpec.bgnbd` stores for the stacked features)."""
        return {"bg": dict(self.bg_params_), "gg": dict(self.gg_params_), "cold_start": self.cold_start_}

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        x = X["bg_frequency"].to_numpy(dtype=np.float64)
        purchases = bgnbd_expected_purchases(
            self.bg_params_, float(self.horizon_days), x, X["bg_recency"].to_numpy(), X["bg_T"].to_numpy()
        )
        spend = gamma_gamma_spend(self.gg_params_, x, X["bg_monetary"].to_numpy())
        pred = purchases * np.maximum(spend, 0.0)
        return np.where(X["has_purchase"].to_numpy() > 0, pred, self.cold_start_)

    def _state(self) -> dict[str, Any]:
        return {
            "bg_params_": self.bg_params_,
            "gg_params_": self.gg_params_,
            "cold_start_": self.cold_start_,
            "fit_info_": self.fit_info(),
        }
