"""Constants and helpers shared by the scoring API tests."""

from __future__ import annotations

import warnings

from fastapi import FastAPI

from retailsim.api.app import create_app
from retailsim.api.service import ScoringService
from retailsim.api.settings import ApiSettings

with warnings.catch_warnings():
    # starlette 1.x nudges TestClient users towards httpx2 (not installed); the TestClient itself is fine
    warnings.filterwarnings(
        "ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated", category=UserWarning
    )
    from fastapi.testclient import TestClient

__all__ = ["API_KEY", "MAX_BATCH", "MAX_BODY", "TestClient", "make_app"]

API_KEY = "test-api-key-0123456789abcdef"
#: Small limits so the 413 paths are cheap to reach.
MAX_BATCH = 50
MAX_BODY = 8192


def make_app(service: ScoringService, **settings: object) -> FastAPI:
    """An app over the shared, already loaded service with the test limits (and any other setting)."""
    values: dict[str, object] = {"max_batch": MAX_BATCH, "max_body_bytes": MAX_BODY, **settings}
    return create_app(service.ds.path, None, ApiSettings.model_validate(values), service=service)
