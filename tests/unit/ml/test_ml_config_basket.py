"""ML configuration and today's basket: validation with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retailsim.errors import ConfigError
from retailsim.ml.basket import MAX_QUANTITY, Basket, BasketItem
from retailsim.ml.config import ALL_MODELS, MODEL_SETS, MLConfig, build_ml_config
from retailsim.ml.errors import BasketError


def test_model_sets_expand() -> None:
    assert build_ml_config(sets=["models=fast"]).models == MODEL_SETS["fast"]
    assert build_ml_config(sets=["models=all"]).models == ALL_MODELS
    assert build_ml_config(sets=["models=six,zero"]).models == (*MODEL_SETS["six"], "zero")
    assert MLConfig(models=("lr", "lr", "xgb")).models == ("lr", "xgb")


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"models.*unknown model"):
        build_ml_config(sets=["models=lr,catboost"])
    with pytest.raises(ConfigError, match=r"nn\.epochs"):
        build_ml_config(sets=["nn.epochs=0"])
    with pytest.raises(ConfigError, match=r"every"):
        build_ml_config(sets=["every=monthly"])
    with pytest.raises(ConfigError, match=r"unknown setting"):
        build_ml_config(sets=["xgb.depth=3"])
    with pytest.raises(ConfigError, match=r"at least 3"):
        build_ml_config({"cutoffs": ["2024-03-31", "2024-04-30"]})


def test_config_from_yaml(tmp_path: Path) -> None:
    p = tmp_path / "ml.yaml"
    p.write_text("models: [lr, xgb]\nhorizon_days: 14\nxgb:\n  max_depth: 3\n", encoding="utf-8")
    cfg = build_ml_config(path=p, sets=["seed=3"])
    assert (cfg.models, cfg.horizon_days, cfg.xgb.max_depth, cfg.seed) == (("lr", "xgb"), 14, 3, 3)


def _basket(**kw: object) -> dict[str, object]:
    return {"store_id": 1, "items": [{"product_id": 5, "quantity": 2}], **kw}


def test_valid_basket_defaults() -> None:
    b = Basket.parse(_basket())
    assert b.items[0] == BasketItem(product_id=5, quantity=2)
    assert b.items[0].unit_price is None and b.items[0].discount_pct == 0.0


@pytest.mark.parametrize(
    ("data", "column", "pattern"),
    [
        ({"store_id": 1, "items": []}, "items", "empty"),
        (
            _basket(items=[{"product_id": 5, "quantity": -1}]),
            "items[1].quantity",
            "greater than or equal to 1",
        ),
        (
            _basket(items=[{"product_id": 5, "quantity": MAX_QUANTITY + 1}]),
            "items[1].quantity",
            "less than or equal",
        ),
        (
            _basket(items=[{"product_id": 5, "quantity": 1}, {"product_id": 5, "quantity": 10**6}]),
            "items[2].quantity",
            "less than",
        ),
        (
            _basket(items=[{"product_id": 5, "quantity": 1, "unit_price": 0}]),
            "items[1].unit_price",
            "greater than 0",
        ),
        (
            _basket(items=[{"product_id": 5, "quantity": 1, "discount_pct": 0.95}]),
            "items[1].discount_pct",
            "less than",
        ),
        (_basket(colour="red"), "colour", "Extra inputs"),
        ({"items": [{"product_id": 5, "quantity": 1}]}, "store_id", "required"),
    ],
)
def test_bad_baskets(data: dict[str, object], column: str, pattern: str) -> None:
    with pytest.raises(BasketError, match=pattern) as info:
        Basket.parse(data)
    assert info.value.column == column


def test_basket_file_errors(tmp_path: Path) -> None:
    with pytest.raises(BasketError, match="not found"):
        Basket.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(BasketError, match="not valid JSON"):
        Basket.from_file(bad)
    good = tmp_path / "b.json"
    good.write_text(json.dumps(_basket()), encoding="utf-8")
    assert Basket.from_file(good).store_id == 1
