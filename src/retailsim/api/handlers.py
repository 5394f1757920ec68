"""Map exceptions to HTTP answers: the prediction errors to their documented status codes, request validation
to 422 with the field and reason, anything else to a generic 500 (logged here, never sent).

=============================================  ======  ============================
exception                                      status  code
=============================================  ======  ============================
:class:`~retailsim.api.security.AuthError`     401     unauthorized
``UnknownCustomerError``                       404     unknown_customer (+ ``id``)
``UnknownProductError``                        404     unknown_product (+ ``id``)
``UnknownStoreError``                          404     unknown_store (+ ``id``)
request body validation                        422     validation_error (+ field)
``BasketError``                                422     invalid_basket (+ field)
``AsOfError``                                  422     invalid_as_of (field as_of)
``CustomerNotKnownYet``                        422     customer_not_known_yet
``NotEnoughDataError``                         422     not_enough_data
``SchemaMismatchError``                        409     schema_mismatch
batch larger than ``max_batch``                413     batch_too_large
body larger than ``max_body_bytes``            413     payload_too_large
anything else                                  500     internal_error
=============================================  ======  ============================
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from retailsim.api.middleware import error_body
from retailsim.api.security import HEADER, AuthError
from retailsim.errors import InputDataError, RetailsimError
from retailsim.ml import errors as ml

log = logging.getLogger("retailsim.api")


class BatchTooLarge(Exception):
    """A /score request with more ids than ``max_batch`` (HTTP 413)."""

    def __init__(self, n: int, limit: int) -> None:
        super().__init__(f"{n} customer ids in one request; at most {limit} are allowed")
        self.n, self.limit = n, limit


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _json(request: Request, status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": f'APIKey header="{HEADER}"'} if status == 401 else None
    return JSONResponse(
        error_body(status, code, message, request_id=_rid(request), **extra),
        status_code=status,
        headers=headers,
    )


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "today", "items", 1, "quantity")`` → ``today.items[2].quantity`` (1-based, like the CLI)."""
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{p + 1}]"
            else:
                parts.append(f"[{p + 1}]")
        else:
            parts.append(str(p))
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message_and_reason(exc: Exception) -> tuple[str, str]:
    """A user-safe message (the library's own sentence) and the reason without any ``where`` prefix."""
    text = str(exc)
    reason = text
    if isinstance(exc, InputDataError) and ": " in text and (exc.column or exc.row is not None or exc.file):
        reason = text.split(": ", 1)[1]
    return text, reason


def _basket_field(exc: ml.BasketError) -> str:
    col = exc.column
    if col:
        return f"today.{col}"
    if exc.row is not None:
        return f"today.items[{exc.row}]"
    return "today"


def known_error(request: Request, exc: Exception) -> JSONResponse:
    """The answer for an exception the API expects (see the table in the module docstring)."""
    msg, reason = _message_and_reason(exc)
    if isinstance(exc, AuthError):
        return _json(request, 401, "unauthorized", msg)
    if isinstance(exc, BatchTooLarge):
        return _json(
            request, 413, "batch_too_large", msg, field="customer_ids", reason=f"at most {exc.limit} ids"
        )
    if isinstance(exc, ml.UnknownCustomerError):
        cid = exc.customer_id if exc.field == "external_id" else _int(exc.customer_id)
        return _json(request, 404, "unknown_customer", msg, field=exc.field, id=cid)
    if isinstance(exc, ml.UnknownProductError):
        return _json(request, 404, "unknown_product", msg, field="today.items", id=list(exc.product_ids))
    if isinstance(exc, ml.UnknownStoreError):
        return _json(request, 404, "unknown_store", msg, field="today.store_id", id=_int(exc.store_id))
    if isinstance(exc, ml.BasketError):
        return _json(request, 422, "invalid_basket", msg, field=_basket_field(exc), reason=reason)
    if isinstance(exc, ml.AsOfError):
        return _json(request, 422, "invalid_as_of", msg, field="as_of", reason=reason)
    if isinstance(exc, ml.CustomerNotKnownYet):
        return _json(
            request, 422, "customer_not_known_yet", msg, field="customer_id", reason=reason,
            id=_int(exc.customer_id),
        )  # fmt: skip
    if isinstance(exc, ml.NotEnoughDataError):
        return _json(request, 422, "not_enough_data", msg, reason=reason)
    if isinstance(exc, ml.SchemaMismatchError):
        return _json(request, 409, "schema_mismatch", msg, reason=reason)
    if isinstance(exc, InputDataError):
        return _json(request, 422, "invalid_input", msg, reason=reason)
    # ArtifactError, DatasetError, ConfigError … at request time: a server-side fault; say nothing specific.
    log.error("request %s failed: %s: %s", _rid(request), type(exc).__name__, exc)
    return _json(request, 500, "internal_error", "internal server error")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def _retailsim_handler(request: Request, exc: Exception) -> JSONResponse:
    return known_error(request, exc)


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "invalid"}
    basket_err = _basket_error(first, exc.body)
    if basket_err is not None:  # the CLI's own basket message for the same mistake
        return known_error(request, basket_err)
    field = field_path(first.get("loc", ()))
    reason = str(first.get("msg", "invalid"))
    if first.get("type") == "json_invalid":
        field, reason = "body", "the body is not valid JSON"
    elif first.get("type") == "missing":
        reason = "field required"
    elif first.get("type") == "one_of":  # customer_id or external_id: name the usual one
        field = str((first.get("ctx") or {}).get("a", field))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return _json(request, 422, "validation_error", f"{field}: {reason}{more}", field=field, reason=reason)


def _basket_error(first: Any, body: Any) -> ml.BasketError | None:
    """When the first problem is in ``today``, the :class:`BasketError` ``Basket.parse`` (the CLI's
    ``--today`` validation) raises for the same JSON, so both name the field and reason alike."""
    loc = tuple(first.get("loc", ()))
    if loc[:2] != ("body", "today") or not isinstance(body, dict):
        return None
    from retailsim.ml.basket import Basket

    try:
        Basket.parse(body.get("today"))
    except ml.BasketError as err:
        return err
    return None  # pragma: no cover - the same model accepted it


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "payload_too_large"}
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    resp = _json(request, exc.status_code, codes.get(exc.status_code, "http_error"), detail)
    if exc.headers:
        resp.headers.update(exc.headers)
    return resp


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error (request %s)", _rid(request), exc_info=exc)
    return _json(request, 500, "internal_error", "internal server error")


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RetailsimError, _retailsim_handler)
    app.add_exception_handler(AuthError, _retailsim_handler)
    app.add_exception_handler(BatchTooLarge, _retailsim_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
