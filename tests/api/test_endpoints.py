"""Every endpoint's success path through FastAPI's TestClient."""

from __future__ import annotations

import datetime as dt

from api_helpers import TestClient

from retailsim.api.service import ScoringService


def test_health(client: TestClient, api_service: ScoringService) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    h = r.json()
    card = api_service.predictor.card
    assert h["status"] == "ok"
    assert h["model_id"] == card["model_id"] and h["model"] == "hurdle"
    assert h["model_id"].endswith(h["model_version"])
    assert h["trained_at"] == card["created_at"]
    assert h["data_manifest_hash"] == card["dataset"]["manifest_sha256"]
    assert h["dataset_manifest_hash"] == h["data_manifest_hash"] and h["serving_training_data"] is True
    assert h["horizon_days"] == 30
    assert h["as_of_default"] in h["cached_as_of"]
    assert r.headers["x-request-id"]


def test_model_card_without_local_paths(client: TestClient, api_service: ScoringService) -> None:
    r = client.get("/model")
    assert r.status_code == 200
    body = r.json()
    assert body["model_id"] == api_service.model_id
    card = body["card"]
    assert card["files"] == api_service.predictor.card["files"]
    assert card["cutoffs"]["test"] and card["metrics"] and card["libraries"]["xgboost"]
    assert "/" not in card["dataset"]["path"]
    assert str(api_service.ds.path) not in r.text


def test_docs_and_openapi_come_from_the_models(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/health", "/model", "/predict", "/score"}
    schemas = spec["components"]["schemas"]
    # today's basket is the library's Basket model, not a copy
    assert schemas["PredictRequest"]["properties"]["today"]["anyOf"][0]["$ref"].endswith("/Basket")
    assert {
        "Basket",
        "BasketItem",
        "PredictResponse",
        "ScoreRequest",
        "ScoreResponse",
        "ErrorResponse",
    } <= set(schemas)
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "404" in spec["paths"]["/predict"]["post"]["responses"]
    assert "413" in spec["paths"]["/score"]["post"]["responses"]


def test_predict(
    client: TestClient, customers: list[tuple[int, object]], api_service: ScoringService
) -> None:
    cid = customers[0][0]
    r = client.post("/predict", json={"customer_id": cid})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["customer_id"] == cid
    assert p["as_of"] == api_service.default_as_of.isoformat()
    assert p["predicted_spend"] >= 0 and 0 <= p["p_buy"] <= 1
    assert p["interval"]["lo"] <= p["interval"]["hi"] and p["interval"]["level"] == 0.8
    assert p["segment"] in ("low", "medium", "high", "top")
    assert p["with_basket"] is False
    assert p["model_id"] == api_service.model_id and p["model_version"] == api_service.model_version


def test_predict_as_of_and_today(
    client: TestClient,
    customers: list[tuple[int, object]],
    catalogue: tuple[int, int],
    api_service: ScoringService,
) -> None:
    cid = customers[1][0]
    as_of = (api_service.default_as_of - dt.timedelta(days=45)).isoformat()
    plain = client.post("/predict", json={"customer_id": cid, "as_of": as_of})
    assert plain.status_code == 200 and plain.json()["as_of"] == as_of
    store, product = catalogue
    basket = {"store_id": store, "items": [{"product_id": product, "quantity": 40, "unit_price": 99.0}]}
    r = client.post("/predict", json={"customer_id": cid, "as_of": as_of, "today": basket})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["with_basket"] is True and b["as_of"] == as_of
    assert b["predicted_spend"] != plain.json()["predicted_spend"]


def test_score_keeps_order_duplicates_and_statuses(
    client: TestClient, customers: list[tuple[int, object]]
) -> None:
    a, b = customers[0][0], customers[5][0]
    ids = [b, 999_999, a, b]
    r = client.post("/score", json={"customer_ids": ids})
    assert r.status_code == 200, r.text
    s = r.json()
    assert [row["customer_id"] for row in s["rows"]] == ids
    assert [row["status"] for row in s["rows"]] == ["ok", "unknown_customer", "ok", "ok"]
    assert (s["n_scored"], s["n_failed"]) == (3, 1)
    assert s["rows"][0] == s["rows"][3]
    bad = s["rows"][1]
    assert bad["predicted_spend"] is None and bad["interval"] is None and "999999" in bad["error"]
    single = client.post("/predict", json={"customer_id": a}).json()
    assert s["rows"][2]["predicted_spend"] == single["predicted_spend"]


def test_score_not_yet_customer_row(client: TestClient, customers: list[tuple[int, object]]) -> None:
    late_id, signup = max(customers, key=lambda c: (c[1], c[0]))
    early_id = min(customers, key=lambda c: (c[1], c[0]))[0]
    before = (signup - dt.timedelta(days=1)).isoformat()  # type: ignore[operator]
    r = client.post("/score", json={"customer_ids": [late_id, early_id], "as_of": before})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [x["status"] for x in rows] == ["not_yet_customer", "ok"]
    assert rows[0]["error"]
