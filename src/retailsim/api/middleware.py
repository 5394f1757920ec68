"""Pure ASGI middleware: the request body size limit (413) and the last-resort catch-all (500).

Both are plain ASGI (no ``BaseHTTPMiddleware``). The body limit reads the body itself (at most ``max_bytes``
of it) before the app runs, so a streamed upload without ``Content-Length`` is cut off as soon as it passes the
limit, and the app never sees an oversize body.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("retailsim.api")

REQUEST_ID_HEADER = "X-Request-ID"


def error_body(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    reason: str | None = None,
    id: Any = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The JSON every error response carries (the shape of :class:`retailsim.api.models.ErrorResponse`)."""
    return {
        "status": status,
        "code": code,
        "message": message,
        "field": field,
        "reason": reason,
        "id": id,
        "request_id": request_id,
    }


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    """Send a complete JSON response (used before the app has started one)."""
    data = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimitMiddleware:
    """Answer 413 when ``Content-Length`` or the bytes actually received exceed ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> dict[str, Any]:
        return error_body(
            413,
            "payload_too_large",
            f"request body larger than {self.max_bytes} bytes",
            reason=f"the limit is {self.max_bytes} bytes (setting max_body_bytes)",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_len = headers.get(b"content-length")
        if raw_len is not None:
            try:
                declared = int(raw_len)
                if declared < 0:
                    raise ValueError
            except ValueError:
                await send_json(
                    send, 400, error_body(400, "bad_request", "invalid Content-Length header"), []
                )
                return
            if declared > self.max_bytes:
                await send_json(send, 413, self._too_large(), [(b"connection", b"close")])
                return
        # read the body here, at most max_bytes of it, then hand it to the app in one message
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            received += len(body)
            if received > self.max_bytes:
                await send_json(send, 413, self._too_large(), [(b"connection", b"close")])
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class CatchAllMiddleware:
    """Turn any exception that escaped the app into a generic 500 (logged here, with its traceback, never sent).

    Also gives every request an id (the client's ``X-Request-ID`` if it is short and printable), echoed in the
    response header and in error bodies, so a client's report can be matched to the server log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def tagged_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, tagged_send)
        except Exception:
            log.exception(
                "unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), rid
            )
            if started:
                return
            await send_json(
                send,
                500,
                error_body(500, "internal_error", "internal server error", request_id=rid),
                [(b"x-request-id", rid.encode())],
            )


def _request_id(scope: Scope) -> str:
    for k, v in scope.get("headers") or []:
        if k == b"x-request-id":
            try:
                text = v.decode("ascii")
            except UnicodeDecodeError:
                break
            if 0 < len(text) <= 64 and all(c.isalnum() or c in "-_.:" for c in text):
                return text
            break
    return uuid.uuid4().hex
