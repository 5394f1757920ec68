"""Fixtures of the scoring API tests: the shared `tiny` dataset, one fast model trained on it once per session
(saved outside the dataset folder), one loaded service and TestClients over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import API_KEY, TestClient, make_app
from pydantic import SecretStr

from retailsim.api.service import ScoringService
from retailsim.api.settings import ApiSettings
from retailsim.storage.dataset import Dataset


@pytest.fixture(scope="session")
def api_model(tiny_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hurdle model (the fastest model with P(buy) and intervals: 30 trees) trained on `tiny`; its folder."""
    from retailsim.ml.config import build_ml_config
    from retailsim.ml.train import train

    cfg = build_ml_config(sets=["models=hurdle", "xgb.n_estimators=30", "report=false", "seed=1"])
    model_dir = tmp_path_factory.mktemp("api_model")
    result = train(tiny_dataset, cfg, model_dir=model_dir)
    assert result.model_path is not None
    return model_dir


@pytest.fixture(scope="session")
def api_service(tiny_dataset: Dataset, api_model: Path) -> ScoringService:
    """The model and dataset loaded once (cache warmed for the default as-of day)."""
    return ScoringService.load(tiny_dataset.path, api_model, ApiSettings())


@pytest.fixture(scope="session")
def client(api_service: ScoringService) -> Iterator[TestClient]:
    """No API key configured."""
    with TestClient(make_app(api_service)) as c:
        yield c


@pytest.fixture(scope="session")
def keyed_client(api_service: ScoringService) -> Iterator[TestClient]:
    """The server requires ``API_KEY`` in X-API-Key (the client sends none by default)."""
    with TestClient(make_app(api_service, api_key=SecretStr(API_KEY))) as c:
        yield c


@pytest.fixture(scope="session")
def customers(tiny_dataset: Dataset) -> list[tuple[int, object]]:
    """(customer_id, signup_date) of every customer, by id."""
    tbl = tiny_dataset.read("customers", ["customer_id", "signup_date"])
    return sorted(zip(tbl.column(0).to_pylist(), tbl.column(1).to_pylist(), strict=True))


@pytest.fixture(scope="session")
def catalogue(tiny_dataset: Dataset) -> tuple[int, int]:
    """A real (store_id, product_id) for baskets."""
    store = tiny_dataset.read("stores", ["store_id"]).column(0).to_pylist()[0]
    product = tiny_dataset.read("products", ["product_id"]).column(0).to_pylist()[0]
    return int(store), int(product)
