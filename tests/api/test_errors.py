"""Every error path: status code, body shape (field, reason, id), and never a stack trace."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

import pytest
from api_helpers import API_KEY, MAX_BATCH, MAX_BODY, TestClient, make_app
from httpx import Response

from retailsim.api.service import ScoringService
from retailsim.ml.errors import (
    ArtifactError,
    BasketError,
    CustomerNotKnownYet,
    NotEnoughDataError,
    SchemaMismatchError,
)

ERROR_KEYS = {"status", "code", "message", "field", "reason", "id", "request_id"}


def check_error(r: Response, status: int, code: str) -> dict[str, Any]:
    """The response is an ErrorResponse with this status and code and no trace of server internals."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == ERROR_KEYS
    assert (body["status"], body["code"]) == (status, code)
    assert body["request_id"] == r.headers["x-request-id"]
    for leak in ("Traceback", 'File "', "site-packages", "/src/retailsim", ".py"):
        assert leak not in r.text
    assert not re.search(r"line \d+, in ", r.text)
    return body


@pytest.fixture(scope="module")
def basket(catalogue: tuple[int, int]) -> dict[str, Any]:
    store, product = catalogue
    return {"store_id": store, "items": [{"product_id": product, "quantity": 2}]}


def test_unknown_customer_404(client: TestClient) -> None:
    body = check_error(client.post("/predict", json={"customer_id": 987_654}), 404, "unknown_customer")
    assert body["id"] == 987_654 and body["field"] == "customer_id" and "987654" in body["message"]


def test_unknown_product_404(client: TestClient, customers: list[Any], basket: dict[str, Any]) -> None:
    bad = {**basket, "items": [*basket["items"], {"product_id": 55_555_555, "quantity": 1}]}
    r = client.post("/predict", json={"customer_id": customers[0][0], "today": bad})
    body = check_error(r, 404, "unknown_product")
    assert body["id"] == [55_555_555] and "line 2" in body["message"]


def test_unknown_store_404(client: TestClient, customers: list[Any], basket: dict[str, Any]) -> None:
    r = client.post(
        "/predict", json={"customer_id": customers[0][0], "today": {**basket, "store_id": 77_777}}
    )
    body = check_error(r, 404, "unknown_store")
    assert body["id"] == 77_777 and body["field"] == "today.store_id"


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        ({"quantity": -3}, "today.items[2].quantity", "greater than or equal to 1"),
        ({"quantity": 10_000}, "today.items[2].quantity", "less than or equal to"),
        ({"quantity": 1, "discount_pct": 2}, "today.items[2].discount_pct", "less than or equal to"),
        ({"quantity": 1, "unit_price": 0}, "today.items[2].unit_price", "greater than 0"),
        ({"quantity": 1, "colour": "red"}, "today.items[2].colour", "Extra inputs"),
    ],
)
def test_bad_basket_422_names_the_field(
    client: TestClient,
    customers: list[Any],
    basket: dict[str, Any],
    item: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    line = {"product_id": basket["items"][0]["product_id"], **item}
    today = {**basket, "items": [*basket["items"], line]}
    body = check_error(
        client.post("/predict", json={"customer_id": customers[0][0], "today": today}), 422, "invalid_basket"
    )
    assert body["field"] == field
    assert reason in body["reason"]


def test_empty_basket_422(client: TestClient, customers: list[Any], basket: dict[str, Any]) -> None:
    r = client.post("/predict", json={"customer_id": customers[0][0], "today": {**basket, "items": []}})
    body = check_error(r, 422, "invalid_basket")
    assert body["field"] == "today.items" and "empty" in body["reason"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "customer_id"),
        ({"customer_id": "abc"}, "customer_id"),
        ({"customer_id": "17"}, "customer_id"),  # JSON integers only: no strings,
        ({"customer_id": True}, "customer_id"),  # booleans,
        ({"customer_id": 17.0}, "customer_id"),  # or floats
        ({"customer_id": 10**30}, "customer_id"),  # and within 64 bits
        ({"customer_id": 1, "as_of": "31/12/2024"}, "as_of"),
        ({"customer_id": 1, "extra": True}, "extra"),
        ([1, 2], "body"),
    ],
)
def test_request_validation_422(client: TestClient, payload: Any, field: str) -> None:
    body = check_error(client.post("/predict", json=payload), 422, "validation_error")
    assert body["field"] == field and body["reason"]


def test_invalid_json_422(client: TestClient) -> None:
    r = client.post("/predict", content=b'{"customer_id": ', headers={"content-type": "application/json"})
    body = check_error(r, 422, "validation_error")
    assert body["field"] == "body"


def test_as_of_outside_the_data_422(
    client: TestClient, api_service: ScoringService, customers: list[Any]
) -> None:
    cid = customers[0][0]
    for as_of in ("1999-01-01", (api_service.default_as_of + dt.timedelta(days=1)).isoformat()):
        body = check_error(
            client.post("/predict", json={"customer_id": cid, "as_of": as_of}), 422, "invalid_as_of"
        )
        assert body["field"] == "as_of" and as_of in body["message"]
        check_error(client.post("/score", json={"customer_ids": [cid], "as_of": as_of}), 422, "invalid_as_of")


def test_customer_not_known_yet_422(client: TestClient, customers: list[Any]) -> None:
    late_id, signup = max(customers, key=lambda c: (c[1], c[0]))
    as_of = (signup - dt.timedelta(days=1)).isoformat()
    body = check_error(
        client.post("/predict", json={"customer_id": late_id, "as_of": as_of}), 422, "customer_not_known_yet"
    )
    assert body["id"] == late_id and body["field"] == "customer_id"


def test_oversize_batch_413(client: TestClient) -> None:
    ids = list(range(1, MAX_BATCH + 2))
    body = check_error(client.post("/score", json={"customer_ids": ids}), 413, "batch_too_large")
    assert body["field"] == "customer_ids" and str(MAX_BATCH) in body["reason"]
    assert client.post("/score", json={"customer_ids": ids[:MAX_BATCH]}).status_code == 200


@pytest.mark.parametrize(
    ("ids", "field"), [([], "customer_ids"), ([1, 10**30], "customer_ids[2]"), ([1, "2"], "customer_ids[2]")]
)
def test_bad_batch_422(client: TestClient, ids: list[Any], field: str) -> None:
    body = check_error(client.post("/score", json={"customer_ids": ids}), 422, "validation_error")
    assert body["field"] == field


def test_oversize_payload_413_by_content_length(client: TestClient) -> None:
    payload = json.dumps({"customer_id": 1, "pad": "x" * MAX_BODY}).encode()
    r = client.post("/predict", content=payload, headers={"content-type": "application/json"})
    check_error_413(r)


def test_oversize_payload_413_when_streamed_without_length(client: TestClient) -> None:
    chunks = [b'{"customer_ids": [', *([b"1, " * 500] * 20), b"1]}"]
    r = client.post("/score", content=iter(chunks), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    check_error_413(r)


def check_error_413(r: Response) -> None:
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["code"] == "payload_too_large" and str(MAX_BODY) in body["message"]


def test_bad_content_length_400(client: TestClient) -> None:
    r = client.post(
        "/predict", content=b"{}", headers={"content-type": "application/json", "content-length": "x"}
    )
    assert r.status_code == 400


def test_unknown_route_and_method(client: TestClient) -> None:
    check_error(client.get("/nope"), 404, "not_found")
    check_error(client.get("/predict"), 405, "method_not_allowed")


@pytest.mark.parametrize(("method", "path"), [("GET", "/model"), ("POST", "/predict"), ("POST", "/score")])
def test_api_key_required(keyed_client: TestClient, customers: list[Any], method: str, path: str) -> None:
    cid = customers[0][0]
    body = {"customer_id": cid} if path == "/predict" else {"customer_ids": [cid]}
    kw: dict[str, Any] = {"json": body} if method == "POST" else {}
    no_key = keyed_client.request(method, path, **kw)
    missing = check_error(no_key, 401, "unauthorized")
    assert (
        "missing" in missing["message"] and no_key.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
    )
    wrong = keyed_client.request(method, path, headers={"X-API-Key": API_KEY[:-1] + "X"}, **kw)
    assert "invalid" in check_error(wrong, 401, "unauthorized")["message"]
    assert API_KEY not in wrong.text and API_KEY[:-1] not in wrong.text
    assert keyed_client.request(method, path, headers={"X-API-Key": API_KEY}, **kw).status_code == 200


def test_health_is_open_with_a_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/health").status_code == 200


def test_auth_is_checked_before_the_body(keyed_client: TestClient) -> None:
    check_error(keyed_client.post("/predict", json={"customer_id": "not an int"}), 401, "unauthorized")


class _Broken:
    """A service whose every call fails the way a bug or a vanished file would."""

    def __init__(self, real: ScoringService, exc: Exception) -> None:
        self._real, self._exc = real, exc
        self.ds = real.ds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def predict(self, req: Any) -> Any:
        raise self._exc

    def score(self, req: Any) -> Any:
        raise self._exc


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("secret internal detail /srv/data/x.parquet"),
        ArtifactError("model /srv/models/x tampered: secret internal detail"),
        KeyError("secret internal detail"),
    ],
)
def test_server_errors_are_generic_500_and_logged(
    api_service: ScoringService, caplog: pytest.LogCaptureFixture, exc: Exception
) -> None:
    app = make_app(_Broken(api_service, exc))  # type: ignore[arg-type]
    with TestClient(app) as c, caplog.at_level(logging.ERROR, logger="retailsim.api"):
        for r in (c.post("/predict", json={"customer_id": 1}), c.post("/score", json={"customer_ids": [1]})):
            body = check_error(r, 500, "internal_error")
            assert body["message"] == "internal server error"
            assert "secret" not in r.text and "/srv" not in r.text
    assert "secret internal detail" in caplog.text  # the server log has it
    assert body["request_id"] in caplog.text


def test_client_request_id_is_echoed(client: TestClient) -> None:
    r = client.post("/predict", json={"customer_id": 987_654}, headers={"X-Request-ID": "crm-42"})
    assert r.headers["x-request-id"] == "crm-42" and r.json()["request_id"] == "crm-42"
    r = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


@pytest.mark.parametrize(
    ("exc", "status", "code", "field"),
    [
        (SchemaMismatchError("the model needs transactions.channel"), 409, "schema_mismatch", None),
        (BasketError("bad price", row=2, column="items[2].unit_price"), 422, "invalid_basket",
         "today.items[2].unit_price"),
        (CustomerNotKnownYet(5, "2024-05-01", "2024-04-01"), 422, "customer_not_known_yet", "customer_id"),
        (NotEnoughDataError("too little history"), 422, "not_enough_data", None),
    ],
)  # fmt: skip
def test_library_errors_map_to_their_status(
    api_service: ScoringService, exc: Exception, status: int, code: str, field: str | None
) -> None:
    with TestClient(make_app(_Broken(api_service, exc))) as c:  # type: ignore[arg-type]
        body = check_error(c.post("/predict", json={"customer_id": 1}), status, code)
    assert body["field"] == field
    assert body["message"] == str(exc)
