"""Hook for a train-on-synthetic / test-on-real (TSTR) check in ``retailsim compare``.

A synthetic twin is useful for modelling when a model trained on it predicts the *real* customers about as
well as a model trained on real data. The ML capability owns the models, so it fills this hook; the fidelity
report only calls it and shows the result.

How the ML capability plugs in (either is enough):

* define ``train_synthetic_test_real(real: Dataset, synth: Dataset) -> TSTRResult`` in the module
  ``retailsim.ml.tstr`` — :func:`find_tstr_check` imports it on demand; or
* call :func:`register_tstr_check` with such a function (tests, notebooks, other packages).

Until then ``compare`` reports the check as not available.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from retailsim.errors import RetailsimError
from retailsim.storage.dataset import Dataset

TSTR_MODULE = "retailsim.ml.tstr"
TSTR_FUNCTION = "train_synthetic_test_real"


@dataclass(frozen=True)
class TSTRResult:
    """Outcome of a TSTR check.

    Attributes
    ----------
    summary
        One sentence for the report, e.g. "trained on the twin: MAE 12.3 vs 11.8 trained on real (+4%)".
    metrics
        Named numbers, e.g. ``{"mae_train_real": 11.8, "mae_train_synth": 12.3}``.
    details
        Anything else worth keeping in the JSON report.
    """

    summary: str
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


TSTRCheck = Callable[[Dataset, Dataset], TSTRResult]
_registered: TSTRCheck | None = None


def register_tstr_check(check: TSTRCheck | None) -> None:
    """Use ``check(real, synth)`` for the TSTR section of every comparison (``None`` unregisters it)."""
    global _registered
    _registered = check


def find_tstr_check() -> TSTRCheck | None:
    """The registered check, else ``retailsim.ml.tstr.train_synthetic_test_real`` if it exists, else None."""
    if _registered is not None:
        return _registered
    try:
        module = importlib.import_module(TSTR_MODULE)
    except ModuleNotFoundError as err:
        if err.name in (TSTR_MODULE, TSTR_MODULE.rpartition(".")[0]):
            return None
        raise
    check = getattr(module, TSTR_FUNCTION, None)
    return check if callable(check) else None


def run_tstr(real: Dataset, synth: Dataset) -> tuple[TSTRResult | None, str]:
    """Run the TSTR check if one is available: ``(result, note)``; the note says why there is none."""
    check = find_tstr_check()
    if check is None:
        return None, (
            f"not available: no TSTR check is installed (the ML capability provides "
            f"{TSTR_MODULE}.{TSTR_FUNCTION}(real, synth))"
        )
    try:
        return check(real, synth), ""
    except RetailsimError as err:
        return None, f"not available: {err}"
