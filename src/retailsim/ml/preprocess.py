"""Turn a feature frame into a numeric matrix; every learned parameter is plain JSON.

Feature columns, category levels and scaler parameters are stored as JSON beside each model, never as
serialised Python objects, so a saved model can be read, audited and re-applied as plain data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

OTHER = "__other__"


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) · log(1 + |x|)``: tames heavy-tailed money and counts, keeps signs (trends)."""
    return np.sign(x) * np.log1p(np.abs(x))


class Preprocessor:
    """Numeric columns (optionally log-transformed and standardised) plus one-hot categorical columns.

    Parameters
    ----------
    numeric
        Numeric columns, in order.
    categorical
        Categorical columns; each keeps its ``max_levels`` most frequent training levels (ties by name), the
        rest and unseen values map to ``__other__``.
    log
        Apply :func:`signed_log1p` to numeric columns.
    scale
        Standardise numeric columns (after the log) with the training mean and standard deviation.
    max_levels
        Levels kept per categorical column.
    """

    def __init__(
        self,
        numeric: Sequence[str],
        categorical: Sequence[str] = (),
        *,
        log: bool = False,
        scale: bool = False,
        max_levels: int = 30,
    ) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.log = log
        self.scale = scale
        self.max_levels = max_levels
        self.levels: dict[str, list[str]] = {}
        self.mean: list[float] = []
        self.std: list[float] = []

    def fit(self, frame: pd.DataFrame) -> Preprocessor:
        """Learn category levels and (when scaling) means and standard deviations from ``frame``."""
        for c in self.categorical:
            counts = frame[c].astype(str).value_counts()
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_levels]
            self.levels[c] = [*sorted(k for k, _ in top), OTHER]
        if self.scale:
            x = self._numeric(frame)
            self.mean = [float(v) for v in x.mean(axis=0)]
            sd = x.std(axis=0)
            self.std = [float(v) if v > 1e-12 else 1.0 for v in sd]
        return self

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[self.numeric].to_numpy(dtype=np.float64, copy=True)
        return signed_log1p(x) if self.log else x

    @property
    def feature_names(self) -> list[str]:
        """Names of the output columns."""
        return self.numeric + [f"{c}={lv}" for c in self.categorical for lv in self.levels[c]]

    def transform(self, frame: pd.DataFrame, dtype: type = np.float32) -> np.ndarray:
        """The matrix for ``frame`` (rows in order), filled column by column into one preallocated array."""
        n, k = len(frame), len(self.numeric)
        out = np.zeros((n, k + sum(len(self.levels[c]) for c in self.categorical)), dtype=dtype)
        for j, c in enumerate(self.numeric):
            v = frame[c].to_numpy(dtype=np.float64)
            if self.log:
                v = signed_log1p(v)
            if self.scale:
                v = (v - self.mean[j]) / self.std[j]
            out[:, j] = v
        offset, rows = k, np.arange(n)
        for c in self.categorical:
            lv = self.levels[c]
            codes = pd.Index(lv[:-1]).get_indexer(frame[c].astype(str))
            codes[codes < 0] = len(lv) - 1  # unseen or rare levels: __other__
            out[rows, offset + codes] = 1.0
            offset += len(lv)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "log": self.log,
            "scale": self.scale,
            "max_levels": self.max_levels,
            "levels": self.levels,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocessor:
        p = cls(
            data["numeric"],
            data["categorical"],
            log=bool(data["log"]),
            scale=bool(data["scale"]),
            max_levels=int(data["max_levels"]),
        )
        p.levels = {k: list(v) for k, v in data["levels"].items()}
        p.mean = [float(v) for v in data["mean"]]
        p.std = [float(v) for v in data["std"]]
        return p
