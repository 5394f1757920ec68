"""Linear regression and random forest (scikit-learn), saved with skops against a fixed trusted-types list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retailsim.ml.errors import ArtifactError
from retailsim.ml.models.base import SpendModel, cpu_threads
from retailsim.ml.preprocess import Preprocessor

#: The only types a skops file may contain beyond skops' own defaults. Anything else is refused on load.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    "builtins.slice",
)


def skops_dump(obj: Any, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, path)


def skops_load(path: Path) -> Any:
    """Load a skops file, refusing any type outside :data:`TRUSTED_TYPES`."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    extra = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if extra:
        raise ArtifactError(f"{path}: refusing to load untrusted types {extra}")
    return sio.load(path, trusted=[t for t in untrusted if t in TRUSTED_TYPES])


class LinearModel(SpendModel):
    """Ordinary least squares on standardised numeric and one-hot categorical features (one sklearn
    ``Pipeline``: ``ColumnTransformer(StandardScaler, OneHotEncoder)`` → ``LinearRegression``)."""

    name = "lr"

    def __init__(
        self, numeric: tuple[str, ...] = (), categorical: tuple[str, ...] = (), max_levels: int = 30
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.max_levels = max_levels

    def _pipeline(self) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        parts: list[tuple[str, Any, list[str]]] = [("num", StandardScaler(), list(self.numeric))]
        if self.categorical:
            parts.append(
                (
                    "cat",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        max_categories=self.max_levels,
                        sparse_output=False,
                    ),
                    list(self.categorical),
                )
            )
        return Pipeline([("prep", ColumnTransformer(parts)), ("lr", LinearRegression())])

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        cols = list(self.numeric) + list(self.categorical)
        f = X[cols].copy()
        for c in self.categorical:
            f[c] = f[c].astype(str).astype(object)
        return f

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> LinearModel:
        self.pipeline_ = self._pipeline().fit(self._frame(X), np.asarray(y, dtype=np.float64))
        self.fit_info_ = {"rows": len(X)}
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.maximum(np.asarray(self.pipeline_.predict(self._frame(X)), dtype=np.float64), 0.0)

    def preprocessing_json(self) -> dict[str, Any]:
        """Feature columns, category levels and scaler parameters of the fitted pipeline, as JSON."""
        ct = self.pipeline_.named_steps["prep"]
        scaler = ct.named_transformers_["num"]
        out: dict[str, Any] = {
            "numeric": list(self.numeric),
            "scaler_mean": scaler.mean_.tolist(),
            "scaler_scale": scaler.scale_.tolist(),
            "categorical": list(self.categorical),
            "levels": {},
            "coefficients": dict(
                zip(
                    ct.get_feature_names_out().tolist(),
                    self.pipeline_.named_steps["lr"].coef_.tolist(),
                    strict=True,
                )
            ),
            "intercept": float(self.pipeline_.named_steps["lr"].intercept_),
        }
        if self.categorical:
            enc = ct.named_transformers_["cat"]
            out["levels"] = {
                c: [str(v) for v in cats] for c, cats in zip(self.categorical, enc.categories_, strict=True)
            }
        return out

    def _save_files(self, folder: Path) -> None:
        skops_dump(self.pipeline_, folder / "model.skops")
        (folder / "preprocess.json").write_text(
            json.dumps(self.preprocessing_json(), indent=1) + "\n", encoding="utf-8"
        )

    def _load_files(self, folder: Path) -> None:
        self.pipeline_ = skops_load(folder / "model.skops")

    def _state(self) -> dict[str, Any]:
        return {"fit_info_": self.fit_info()}

    def importance(self) -> dict[str, float] | None:
        coefs = self.preprocessing_json()["coefficients"]
        out: dict[str, float] = {}
        for k, v in coefs.items():
            base = k.split("__", 1)[-1]
            for c in self.categorical:
                if base.startswith(c + "_"):
                    base = c
            out[base] = out.get(base, 0.0) + abs(float(v))
        total = sum(out.values()) or 1.0
        return {k: v / total for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


class ForestModel(SpendModel):
    """Random forest regression (bootstrap rows capped per tree, which bounds time and artifact size)."""

    name = "rf"

    def __init__(
        self,
        numeric: tuple[str, ...] = (),
        categorical: tuple[str, ...] = (),
        n_estimators: int = 100,
        max_depth: int | None = 14,
        min_samples_leaf: int = 30,
        max_features: float = 0.4,
        max_samples: int = 50_000,
        seed: int = 0,
        threads: int = 2,
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.max_samples = max_samples
        self.seed = seed
        self.threads = threads

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> ForestModel:
        from sklearn.ensemble import RandomForestRegressor

        self.prep_ = Preprocessor(self.numeric, self.categorical).fit(X)
        x = self.prep_.transform(X)
        self.forest_ = RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            max_samples=min(self.max_samples, len(X)),
            n_jobs=cpu_threads(self.threads),
            random_state=self.seed,
        ).fit(x, np.asarray(y, dtype=np.float64))
        self.fit_info_ = {"rows": len(X), "rows_per_tree": min(self.max_samples, len(X))}
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        # the trees' predictions added in tree order: scikit-learn's threads add them in the order they finish,
        # which changes the last bits of the mean from one call to the next
        x = np.ascontiguousarray(self.prep_.transform(X), dtype=np.float32)  # the trees' own input type
        total = np.zeros(len(x))
        for tree in self.forest_.estimators_:
            total += tree.predict(x, check_input=False)
        return total / len(self.forest_.estimators_)

    def _save_files(self, folder: Path) -> None:
        skops_dump(self.forest_, folder / "model.skops")
        (folder / "preprocess.json").write_text(
            json.dumps(self.prep_.to_json(), indent=1) + "\n", encoding="utf-8"
        )

    def _load_files(self, folder: Path) -> None:
        self.prep_ = Preprocessor.from_json(
            json.loads((folder / "preprocess.json").read_text(encoding="utf-8"))
        )
        self.forest_ = skops_load(folder / "model.skops")
        self.forest_.set_params(n_jobs=cpu_threads(self.threads))

    def _state(self) -> dict[str, Any]:
        return {"fit_info_": self.fit_info()}

    def importance(self) -> dict[str, float] | None:
        out: dict[str, float] = {}
        for name, v in zip(self.prep_.feature_names, self.forest_.feature_importances_, strict=True):
            base = name.split("=", 1)[0]
            out[base] = out.get(base, 0.0) + float(v)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))
