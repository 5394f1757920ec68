"""A blend of fitted models: non-negative weights fitted on the validation cutoff (non-negative least squares).

Like scikit-learn's ``VotingRegressor`` but with learned weights: ``fit`` fits every estimator on the training
rows (with the validation rows for their early stopping) and then the weights on the validation rows.
Training usually builds it from the models it has already fitted (:meth:`EnsembleModel.from_fitted`). Its
validation RMSE in the leaderboard is cross-fitted (weights from one half of the validation customers scored
on the other half), so the champion comparison stays fair.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from sklearn.base import clone

from retailsim.ml.errors import ArtifactError
from retailsim.ml.models.base import PARAMS_FILE, SpendModel


def nnls_weights(preds: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights ``w`` minimising ``|preds @ w - y|²`` (no intercept)."""
    w, _ = nnls(np.asarray(preds, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(w)


def cross_fitted_predictions(preds: np.ndarray, y: np.ndarray, customer_ids: np.ndarray) -> np.ndarray | None:
    """The NNLS blend's predictions with weights fitted on one half of the customers and applied to the other
    (None when a half is empty)."""
    fold = (np.asarray(customer_ids) * 2654435761 % 2**32) % 2 == 0
    out = np.empty(len(y))
    for f in (True, False):
        train, test = fold == f, fold != f
        if not train.any() or not test.any():
            return None
        out[test] = preds[test] @ nnls_weights(preds[train], y[train])
    return out


class EnsembleModel(SpendModel):
    """Weighted sum of component models' predictions (weights ≥ 0, fitted on the validation cutoff)."""

    name = "ensemble"
    kind = "ensemble"

    def __init__(self, estimators: tuple[SpendModel, ...] = ()) -> None:
        self.estimators = estimators

    @property
    def needs_sequences(self) -> bool:  # type: ignore[override]
        models = getattr(self, "models_", None) or list(self.estimators)
        return any(m.needs_sequences for m in models)

    @classmethod
    def from_fitted(
        cls, models: list[SpendModel], weights: np.ndarray, info: dict[str, Any] | None = None
    ) -> EnsembleModel:
        """An ensemble of already fitted ``models`` (components with weight 0 are dropped)."""
        keep = [i for i, w in enumerate(weights) if w > 0]
        e = cls(tuple(models[i] for i in keep))
        e.models_ = [models[i] for i in keep]
        e.weights_ = [float(weights[i]) for i in keep]
        e.fit_info_ = {
            "components": {m.name: w for m, w in zip(e.models_, e.weights_, strict=True)},
            **(info or {}),
        }
        return e

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> EnsembleModel:
        if X_val is None or y_val is None:
            raise ValueError("the ensemble fits its weights on validation rows: pass X_val and y_val")
        models = [clone(m).fit(X, y, X_val, y_val) for m in self.estimators]
        w = nnls_weights(np.stack([m.predict(X_val) for m in models], axis=1), np.asarray(y_val))
        fitted = EnsembleModel.from_fitted(models, w)
        self.models_, self.weights_, self.fit_info_ = fitted.models_, fitted.weights_, fitted.fit_info_
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(X))
        for m, w in zip(self.models_, self.weights_, strict=True):
            out += w * np.maximum(m.predict(X), 0.0)
        return out

    def save(self, folder: str | Path) -> list[str]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for m in self.models_:
            m.save(folder / m.name)
        meta = {
            "model": self.name,
            "components": [m.name for m in self.models_],
            "weights": self.weights_,
            "state": {"fit_info_": self.fit_info()},
        }
        (folder / PARAMS_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    @classmethod
    def load(cls, folder: str | Path) -> EnsembleModel:
        from retailsim.ml.models import MODEL_CLASSES

        folder = Path(folder)
        try:
            meta = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
            names, weights = list(meta["components"]), [float(w) for w in meta["weights"]]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise ArtifactError(f"{folder}: cannot read the ensemble's {PARAMS_FILE}: {err}") from None
        if meta.get("model") != cls.name or len(names) != len(weights):
            raise ArtifactError(f"{folder}: not an ensemble model")
        models = []
        for n in names:
            if n not in MODEL_CLASSES or n == cls.name or Path(n).name != n:
                raise ArtifactError(f"{folder}: unknown ensemble component {n!r}")
            models.append(MODEL_CLASSES[n].load(folder / n))
        e = cls.from_fitted(models, np.asarray(weights))
        e.fit_info_ = dict(meta.get("state", {}).get("fit_info_", e.fit_info_))
        return e

    def importance(self) -> dict[str, float] | None:
        out: dict[str, float] = {}
        total_w = sum(self.weights_) or 1.0
        for m, w in zip(self.models_, self.weights_, strict=True):
            imp = m.importance()
            if imp:
                for k, v in imp.items():
                    out[k] = out.get(k, 0.0) + v * w / total_w
        if not out:
            return None
        s = sum(out.values()) or 1.0
        return {k: v / s for k, v in sorted(out.items(), key=lambda kv: -kv[1])}
