"""Gradient-boosted trees (XGBoost): the point model, a Tweedie variant and the hurdle model.

Boosters are saved in XGBoost's own UBJSON format, already cut at the best iteration found by early stopping
on the validation cutoff, so a loaded model predicts exactly what the fitted one did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from retailsim.ml.models.base import SpendModel, cpu_threads
from retailsim.ml.preprocess import Preprocessor


def _params(model: Any, objective: str, **extra: Any) -> dict[str, Any]:
    return {
        "objective": objective,
        "eta": model.learning_rate,
        "max_depth": model.max_depth,
        "min_child_weight": model.min_child_weight,
        "subsample": model.subsample,
        "colsample_bytree": model.colsample_bytree,
        "lambda": model.reg_lambda,
        "tree_method": "hist",
        "max_bin": model.max_bin,
        "seed": model.seed,
        "nthread": cpu_threads(model.threads),
        "verbosity": 0,
        **extra,
    }


def train_booster(
    params: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    n_rounds: int,
    early_stopping: int,
    margin: np.ndarray | None = None,
    margin_val: np.ndarray | None = None,
) -> tuple[xgb.Booster, int]:
    """Train with early stopping on the validation rows (when given); return the booster cut at its best
    iteration and the number of rounds kept. ``margin``/``margin_val``: each row's starting point on the
    objective's link scale (an offset; XGBoost's ``base_margin``, which replaces ``base_score``)."""
    dtrain = xgb.DMatrix(x, label=y, base_margin=margin, nthread=params["nthread"])
    if x_val is not None and y_val is not None and len(y_val):
        dval = xgb.DMatrix(x_val, label=y_val, base_margin=margin_val, nthread=params["nthread"])
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=n_rounds,
            evals=[(dval, "validation")],
            early_stopping_rounds=early_stopping,
            verbose_eval=False,
        )
        best = int(booster.best_iteration) + 1
        booster = booster[:best]
    else:
        booster = xgb.train(params, dtrain, num_boost_round=n_rounds, verbose_eval=False)
        best = n_rounds
    return booster, best


def booster_predict(
    booster: xgb.Booster, x: np.ndarray, threads: int, margin: np.ndarray | None = None
) -> np.ndarray:
    booster.set_param({"nthread": cpu_threads(threads)})
    return np.asarray(booster.inplace_predict(x, base_margin=margin), dtype=np.float64)


def load_booster(path: Path) -> xgb.Booster:
    b = xgb.Booster()
    b.load_model(str(path))
    return b


class _BoostedBase(SpendModel):
    """Shared constructor, preprocessing and persistence of the XGBoost models."""

    def __init__(
        self,
        numeric: tuple[str, ...] = (),
        categorical: tuple[str, ...] = (),
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 6,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 40,
        max_bin: int = 128,
        seed: int = 0,
        threads: int = 2,
        variance_power: float = 1.5,
        coverage: float = 0.8,
    ) -> None:
        self.variance_power = variance_power  # tweedie only
        self.coverage = coverage  # hurdle only
        self.numeric = numeric
        self.categorical = categorical
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.max_bin = max_bin
        self.seed = seed
        self.threads = threads

    def _prep(self, X: pd.DataFrame) -> Preprocessor:
        self.prep_ = Preprocessor(self.numeric, self.categorical).fit(X)
        return self.prep_

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return self.prep_.transform(X)

    def _state(self) -> dict[str, Any]:
        return {"fit_info_": self.fit_info()}

    def _boosters(self) -> dict[str, xgb.Booster]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _save_files(self, folder: Path) -> None:
        import json

        (folder / "preprocess.json").write_text(
            json.dumps(self.prep_.to_json(), indent=1) + "\n", encoding="utf-8"
        )
        for name, booster in self._boosters().items():
            booster.save_model(str(folder / f"{name}.ubj"))

    def _load_prep(self, folder: Path) -> None:
        import json

        self.prep_ = Preprocessor.from_json(
            json.loads((folder / "preprocess.json").read_text(encoding="utf-8"))
        )

    def _gain(self, booster: xgb.Booster) -> dict[str, float]:
        names = self.prep_.feature_names
        raw = booster.get_score(importance_type="total_gain")
        out: dict[str, float] = {}
        for k, v in raw.items():
            i = int(k[1:]) if k.startswith("f") and k[1:].isdigit() else None
            name = names[i] if i is not None and i < len(names) else k
            base = name.split("=", 1)[0]  # one-hot levels add up to their column
            out[base] = out.get(base, 0.0) + float(v)
        total = sum(out.values()) or 1.0
        return {k: v / total for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


class _OneBooster(_BoostedBase):
    """One booster on the whole target; subclasses name the objective (:meth:`_params_for`)."""

    def _params_for(self, y: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def _margin(self, X: pd.DataFrame) -> np.ndarray | None:
        """Each row's offset on the link scale (None: XGBoost's ``base_score``)."""
        return None

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> _OneBooster:
        self._prep(X)
        y = np.asarray(y)
        x_val = self._matrix(X_val) if X_val is not None else None
        self.booster_, rounds = train_booster(
            self._params_for(y),
            self._matrix(X),
            y,
            x_val,
            y_val,
            self.n_estimators,
            self.early_stopping_rounds,
            margin=self._margin(X),
            margin_val=self._margin(X_val) if X_val is not None else None,
        )
        self.fit_info_ = {"rounds": rounds, "rows": len(X)}
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return booster_predict(self.booster_, self._matrix(X), self.threads, self._margin(X))

    def _boosters(self) -> dict[str, xgb.Booster]:
        return {"model": self.booster_}

    def _load_files(self, folder: Path) -> None:
        self._load_prep(folder)
        self.booster_ = load_booster(folder / "model.ubj")

    def importance(self) -> dict[str, float] | None:
        return self._gain(self.booster_)


class XGBModel(_OneBooster):
    """XGBoost regression of spend (squared error: the mean, which RMSE rewards)."""

    name = "xgb"

    def _params_for(self, y: np.ndarray) -> dict[str, Any]:
        return _params(self, "reg:squarederror", base_score=float(np.mean(y)) if len(y) else 0.0)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.maximum(super().predict(X), 0.0)


class TweedieModel(_OneBooster):
    """XGBoost with a Tweedie (compound Poisson–gamma) objective: zero-inflation-aware in one model."""

    name = "tweedie"

    def _params_for(self, y: np.ndarray) -> dict[str, Any]:
        return _params(self, "reg:tweedie", tweedie_variance_power=self.variance_power)


#: Added to the BG/NBD expectation before its log is taken (currency units): a customer the base model expects
#: nothing from still gets a finite offset.
OFFSET_FLOOR = 0.01


class BGBoostModel(_OneBooster):
    """XGBoost on the BG/NBD + Gamma-Gamma expectation: a multiplicative correction to the customer-base model.

    Poisson objective (log link) with ``log(bg_expected_spend + 0.01)`` as every row's starting margin, so the
    trees learn ``log(spend / BG/NBD expectation)`` from all the features (the BG/NBD columns included) and
    prediction is ``BG/NBD expectation × exp(trees)``. The level comes from BG/NBD, fitted on the history up to
    the scoring date — it follows the customer base as it ages — and the trees add what it misses (basket,
    category, calendar, recency patterns); with nothing to add, the model is BG/NBD.
    """

    name = "bgboost"

    def _params_for(self, y: np.ndarray) -> dict[str, Any]:
        return _params(self, "count:poisson")

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        if "bg_expected_spend" not in X.columns:
            raise ValueError("bgboost needs the BG/NBD columns: a feature spec whose bgnbd is set")
        return np.log(np.maximum(X["bg_expected_spend"].to_numpy(dtype=np.float64), 0.0) + OFFSET_FLOOR)


def mixture_interval(
    p_buy: np.ndarray, mu: np.ndarray, sigma: np.ndarray | float, coverage: float
) -> tuple[np.ndarray, np.ndarray]:
    """Central ``coverage`` interval of a zero-inflated log-normal: 0 with probability ``1 - p_buy``, else
    ``exp(N(mu, sigma²))``.

    Where the point mass at zero exceeds the lower tail (``1 - p >= (1 - coverage) / 2``) the interval starts
    at 0 and its upper bound makes it hold exactly ``coverage``; otherwise it is equal-tailed.
    """
    from scipy.special import ndtri

    p = np.clip(np.asarray(p_buy, dtype=np.float64), 1e-12, 1.0)
    q0 = 1.0 - p
    a = (1.0 - coverage) / 2
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), p.shape)

    def cq(tau: np.ndarray) -> np.ndarray:
        return np.exp(mu + s * ndtri(np.clip(tau, 1e-9, 1 - 1e-9)))

    lo = np.where(q0 < a, cq((a - q0) / p), 0.0)
    hi_tau = np.where(q0 < a, (1 - a - q0) / p, (coverage - q0) / p)
    hi = np.where(q0 >= coverage, 0.0, cq(hi_tau))
    return lo, np.maximum(hi, lo)


class HurdleModel(_BoostedBase):
    """Hurdle model: P(buy) × E[spend | buy], and a calibrated interval from a zero-inflated log-normal.

    Three boosters share one preprocessing:

    - ``classifier``: P(any purchase in the horizon) (logistic);
    - ``conditional``: expected spend of buyers (squared error, trained on buyers only) — the point estimate
      is P(buy) × this;
    - ``logmean``: expected log spend of buyers, the centre of the log-normal spend-if-buying distribution.

    The log-normal's spread is the standard deviation of the log residuals of the validation cutoff's buyers
    (held out from the trees). The interval is that of the mixture "nothing with probability 1 − P(buy), else
    log-normal spend" (see :func:`mixture_interval`): it holds ``coverage`` of the probability for each
    customer, except where not buying alone is more likely than ``coverage`` — then it is [0, 0], which holds
    1 − P(buy). Its expected overall coverage is therefore the mean of max(coverage, 1 − P(buy)), which the
    report shows beside the empirical one. Every trained predictor carries a hurdle model for P(buy) and the
    interval, whichever model gives the point estimate.
    """

    name = "hurdle"
    kind = "baseline"

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> HurdleModel:
        y = np.asarray(y, dtype=np.float64)
        self._prep(X)
        x = self._matrix(X)
        xv = self._matrix(X_val) if X_val is not None and y_val is not None else None
        yv = np.asarray(y_val, dtype=np.float64) if xv is not None else None
        buy = y > 0
        info: dict[str, Any] = {"rows": len(y), "buyers": int(buy.sum())}
        self.constant_ = None
        self.sigma_ = 1.0
        if buy.sum() < 2 or buy.all():
            # degenerate training data (e.g. nobody bought): constant predictions, no trees
            self.constant_ = {
                "p_buy": float(buy.mean()) if len(y) else 0.0,
                "spend": float(y.mean()) if len(y) else 0.0,
            }
            self.clf_ = self.cond_ = self.logmean_ = None
            self.fit_info_ = {**info, "degenerate": True}
            return self
        vb = None if yv is None else yv > 0
        has_vb = vb is not None and vb.any()
        p = _params(self, "binary:logistic", eval_metric="logloss", base_score=float(buy.mean()))
        self.clf_, info["classifier_rounds"] = train_booster(
            p,
            x,
            buy.astype(np.float64),
            xv,
            None if yv is None else (yv > 0).astype(np.float64),
            self.n_estimators,
            self.early_stopping_rounds,
        )
        p = _params(self, "reg:squarederror", base_score=float(y[buy].mean()))
        self.cond_, info["conditional_rounds"] = train_booster(
            p,
            x[buy],
            y[buy],
            xv[vb] if has_vb else None,  # type: ignore[index]
            yv[vb] if has_vb else None,  # type: ignore[index]
            self.n_estimators,
            self.early_stopping_rounds,
        )
        ly = np.log(y[buy])
        p = _params(self, "reg:squarederror", base_score=float(ly.mean()))
        self.logmean_, info["logmean_rounds"] = train_booster(
            p,
            x[buy],
            ly,
            xv[vb] if has_vb else None,  # type: ignore[index]
            np.log(yv[vb]) if has_vb else None,  # type: ignore[index]
            self.n_estimators,
            self.early_stopping_rounds,
        )
        if has_vb:  # spread from held-out buyers (in-sample residuals are too small)
            res = np.log(yv[vb]) - booster_predict(self.logmean_, xv[vb], self.threads)  # type: ignore[index]
        else:
            res = ly - booster_predict(self.logmean_, x[buy], self.threads)
        self.sigma_ = float(max(np.std(res), 1e-3))
        info["sigma_log"] = self.sigma_
        info["sigma_from"] = "validation buyers" if has_vb else "training buyers (in-sample)"
        self.fit_info_ = info
        return self

    def predict_proba_buy(self, X: pd.DataFrame) -> np.ndarray:
        """P(any purchase in the horizon)."""
        if self.constant_ is not None:
            return np.full(len(X), self.constant_["p_buy"])
        return np.clip(booster_predict(self.clf_, self._matrix(X), self.threads), 0.0, 1.0)

    def expected_coverage(self, X: pd.DataFrame) -> float:
        """Mean model-implied probability that spend falls in the interval: mean of max(coverage, 1 − P(buy))."""
        p = self.predict_proba_buy(X)
        return (
            float(np.mean(np.where(1 - p >= self.coverage, 1 - p, self.coverage))) if len(p) else float("nan")
        )

    def predict_interval(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the ``coverage`` prediction interval for spend."""
        if self.constant_ is not None:
            v = np.full(len(X), self.constant_["spend"])
            return v.copy(), v
        x = self._matrix(X)
        p = np.clip(booster_predict(self.clf_, x, self.threads), 0.0, 1.0)
        mu = booster_predict(self.logmean_, x, self.threads)
        return mixture_interval(p, mu, self.sigma_, self.coverage)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.constant_ is not None:
            return np.full(len(X), self.constant_["spend"])
        x = self._matrix(X)
        p = np.clip(booster_predict(self.clf_, x, self.threads), 0.0, 1.0)
        cond = np.maximum(booster_predict(self.cond_, x, self.threads), 0.0)
        return p * cond

    def _boosters(self) -> dict[str, xgb.Booster]:
        if self.constant_ is not None:
            return {}
        return {"classifier": self.clf_, "conditional": self.cond_, "logmean": self.logmean_}

    def _state(self) -> dict[str, Any]:
        return {
            "fit_info_": self.fit_info(),
            "sigma_": self.sigma_,
            "constant_": self.constant_,
        }

    def _load_files(self, folder: Path) -> None:
        self._load_prep(folder)
        if self.constant_ is None:
            self.clf_ = load_booster(folder / "classifier.ubj")
            self.cond_ = load_booster(folder / "conditional.ubj")
            self.logmean_ = load_booster(folder / "logmean.ubj")
        else:
            self.clf_ = self.cond_ = self.logmean_ = None

    def importance(self) -> dict[str, float] | None:
        return None if self.clf_ is None else self._gain(self.clf_)
