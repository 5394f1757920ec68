"""The champion rule: a model not anchored to BG/NBD + GG replaces it only when clearly better on validation."""

from __future__ import annotations

from typing import Any

import numpy as np

from retailsim.ml import metrics
from retailsim.ml.train import _pick_champion


def _evals(preds: dict[str, np.ndarray], y: np.ndarray) -> dict[str, dict[str, dict[str, Any]]]:
    return {n: {"validation": {"rmse": metrics.rmse(y, p)}} for n, p in preds.items()}


def _case(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    y = rng.gamma(0.5, 20.0, 4000)
    bg = y + rng.normal(0, 10.0, len(y))
    return y, {
        "bgnbd": bg,
        "bgboost": y + rng.normal(0, 10.0, len(y)),
        "lr": y + rng.normal(0, 9.9, len(y)),  # about as good as BG/NBD: noise, not evidence
        "xgb": y + rng.normal(0, 6.0, len(y)),  # clearly better
    }


def test_a_model_clearly_better_than_bgnbd_wins() -> None:
    y, preds = _case()
    names = list(preds)
    champion, rule, beats = _pick_champion(names, names, _evals(preds, y), preds, y, 1.0)
    assert champion == "xgb" and beats == {"lr": False, "xgb": True}
    assert "standard error" in rule


def test_a_model_within_noise_of_bgnbd_does_not_replace_it() -> None:
    y, preds = _case()
    preds["xgb"] = preds["bgnbd"] + 5.0  # worse
    names = list(preds)
    evals = _evals(preds, y)
    champion, _, beats = _pick_champion(names, names, evals, preds, y, 1.0)
    assert not beats["lr"] and not beats["xgb"]
    assert champion == min(("bgnbd", "bgboost"), key=lambda n: evals[n]["validation"]["rmse"])
    # lr has the lowest validation RMSE of all: the plain rule picks it
    plain, rule, _ = _pick_champion(names, names, evals, preds, y, 0.0)
    assert plain == "lr" and rule == "lowest RMSE on the validation cutoff"


def test_without_an_anchored_candidate_the_plain_rule_applies() -> None:
    y, preds = _case()
    names = ["lr", "xgb"]  # BG/NBD reported as the anchor only, bgboost not trained
    champion, rule, beats = _pick_champion(names, names, _evals(preds, y), preds, y, 1.0)
    assert champion == "xgb" and beats == {} and rule == "lowest RMSE on the validation cutoff"
