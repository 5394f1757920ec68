"""What every spend model is: a scikit-learn style regressor that saves itself as data, not Python objects.

Models take the whole feature frame (``X``: one row per customer and cutoff, the columns of a
:class:`~retailsim.ml.features.FeatureSpec`) and pick the columns they use; ``y`` is the next-horizon spend.
``fit`` may take a validation frame for early stopping; the test cutoff is never shown to a model.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from retailsim.ml.errors import ArtifactError

PARAMS_FILE = "params.json"


class SpendModel(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Base class: ``fit(X, y, X_val=None, y_val=None)``, ``predict(X)``, ``save(folder)``, ``load(folder)``.

    Subclasses set :attr:`name` (the registry key), keep constructor arguments as attributes of the same name
    (scikit-learn conventions: ``get_params``/``set_params``/``clone`` work) and end fitted attributes with
    ``_``.
    """

    name: ClassVar[str] = "base"
    kind: ClassVar[str] = "model"  # "baseline", "model" or "neural"
    needs_sequences: ClassVar[bool] = False

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> SpendModel:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- persistence ------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """Fitted scalars/arrays (JSON-able) beyond the constructor parameters."""
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def _save_files(self, folder: Path) -> None:
        """Write model-specific files (weights, trees) into ``folder``."""

    def _load_files(self, folder: Path) -> None:
        """Read what :meth:`_save_files` wrote."""

    def save(self, folder: str | Path) -> list[str]:
        """Write the fitted model into ``folder`` (created); returns the file names written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_files(folder)
        meta = {"model": self.name, "params": _jsonable(self.get_params()), "state": _jsonable(self._state())}
        (folder / PARAMS_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    @classmethod
    def load(cls, folder: str | Path) -> SpendModel:
        """Rebuild a model saved by :meth:`save` (the class must match ``params.json``)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ArtifactError(f"{folder}: cannot read {PARAMS_FILE}: {err}") from None
        if meta.get("model") != cls.name:
            raise ArtifactError(f"{folder}: holds a {meta.get('model')!r} model, not {cls.name!r}")
        try:
            model = cls(**_from_json_params(meta["params"]))
            model._set_state(meta.get("state", {}))
            model._load_files(folder)
        except ArtifactError:
            raise
        except Exception as err:  # corrupt or foreign files: one clear error
            raise ArtifactError(f"{folder}: cannot load the {cls.name} model: {err}") from None
        return model

    def importance(self) -> dict[str, float] | None:
        """Feature importance (name → score), when the model has a natural one."""
        return None

    def fit_info(self) -> dict[str, Any]:
        """Facts about the fit for the report (rows used, best iteration, epochs …)."""
        return dict(getattr(self, "fit_info_", {}))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _from_json_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, restoring the previous setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_threads(requested: int) -> int:
    """Threads to use: ``requested`` capped at the machine's cores."""
    return max(1, min(requested, os.cpu_count() or 1))
