"""The scoring API: a FastAPI app serving one trained model over one dataset, read-only.

:func:`create_app` loads the model and the dataset once, before the app exists, so a missing or tampered
artifact stops ``retailsim serve`` with a clear message instead of failing on the first request. Every
prediction goes through :class:`~retailsim.api.service.ScoringService`, which calls the same library functions
as ``retailsim ml predict`` and ``ml score``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from retailsim.api import handlers
from retailsim.api.middleware import BodyLimitMiddleware, CatchAllMiddleware
from retailsim.api.models import (
    ErrorResponse,
    HealthResponse,
    ModelCard,
    PredictRequest,
    PredictResponse,
    ScoreRequest,
    ScoreResponse,
)
from retailsim.api.security import require_api_key
from retailsim.api.service import ScoringService
from retailsim.api.settings import ApiSettings

log = logging.getLogger("retailsim.api")

_ERR = {"model": ErrorResponse}
_COMMON: dict[int | str, dict[str, Any]] = {
    401: {**_ERR, "description": "Missing or wrong X-API-Key (when the server has a key)."},
    413: {**_ERR, "description": "Request body larger than max_body_bytes."},
    422: {**_ERR, "description": "Invalid request: `field` names the field, `reason` says why."},
    500: {**_ERR, "description": "Server fault (details only in the server log)."},
}


def _service(request: Request) -> ScoringService:
    svc: ScoringService = request.app.state.service
    return svc


Service = Annotated[ScoringService, Depends(_service)]


def create_app(
    dataset_path: str | Path,
    model_path: str | Path | None = None,
    settings: ApiSettings | None = None,
    *,
    service: ScoringService | None = None,
) -> FastAPI:
    """Build the API for ``dataset_path`` and the model at ``model_path`` (default: the dataset's champion).

    Parameters
    ----------
    dataset_path
        Dataset folder to predict from.
    model_path
        Trained model folder; None = the champion ``retailsim ml train`` saved with the dataset.
    settings
        Limits and API key; None = :meth:`ApiSettings.from_env`.
    service
        An already loaded service (reused across apps in tests and benchmarks); overrides the two paths.

    Raises
    ------
    retailsim.errors.RetailsimError
        When the dataset or the model is missing, incomplete, tampered with or do not fit each other.
    """
    settings = settings or ApiSettings.from_env()
    svc = service or ScoringService.load(dataset_path, model_path, settings)
    app = FastAPI(
        title="retailsim scoring API",
        version=_version(),
        summary="Next-30-day spend predictions for other systems, from the same code as `retailsim ml predict`.",
        description=(
            "Read-only. Every error answer is an `ErrorResponse`. When the server is configured with an API key, "
            "send it in the `X-API-Key` header."
        ),
        generate_unique_id_function=lambda route: route.name if isinstance(route, APIRoute) else "",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = svc
    handlers.install(app)
    # order: the catch-all is outermost, so an error in the body limit is caught too
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    guarded = [Depends(require_api_key)]

    @app.get("/health", response_model=HealthResponse, tags=["service"], responses={500: _COMMON[500]})
    def health(svc: Service) -> HealthResponse:
        """Liveness, the loaded model's id, version and training date, and the data manifest hashes.

        Open without an API key so that load balancers and monitors can call it; it reveals no data.
        """
        return svc.health()

    @app.get("/model", response_model=ModelCard, tags=["service"], dependencies=guarded, responses=_COMMON)
    def model(svc: Service) -> ModelCard:
        """The model card: training data, cutoffs, metrics and library versions."""
        return svc.model_card()

    @app.post(
        "/predict",
        response_model=PredictResponse,
        tags=["predictions"],
        dependencies=guarded,
        responses={
            404: {**_ERR, "description": "Unknown customer, product or store (`id` says which)."},
            409: {**_ERR, "description": "The model needs columns this dataset does not have."},
            **_COMMON,
        },
    )
    def predict(body: PredictRequest, svc: Service) -> PredictResponse:
        """Predicted spend, P(buy) and the interval for one customer over the horizon after ``as_of``.

        With ``today``, the basket is added as a transaction of the as-of day first (same as
        `retailsim ml predict --today basket.json`).
        """
        return svc.predict(body)

    @app.post(
        "/score",
        response_model=ScoreResponse,
        tags=["predictions"],
        dependencies=guarded,
        responses={
            409: {**_ERR, "description": "The model needs columns this dataset does not have."},
            413: {**_ERR, "description": "More ids than max_batch, or a body larger than max_body_bytes."},
            **{k: v for k, v in _COMMON.items() if k != 413},
        },
    )
    def score(body: ScoreRequest, svc: Service) -> ScoreResponse:
        """Score many customers at one as-of date; ids that cannot be scored get a per-row status, the rest
        are still scored (same numbers as `retailsim ml score`)."""
        if body.n_ids > settings.max_batch:
            raise handlers.BatchTooLarge(body.n_ids, settings.max_batch)
        return svc.score(body)

    return app


def _version() -> str:
    from retailsim import __version__

    return str(__version__)
