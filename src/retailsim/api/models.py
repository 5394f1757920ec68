"""Request and response bodies of the scoring API (pydantic; the OpenAPI schema at ``/docs`` is built from them).

Today's basket is :class:`retailsim.ml.basket.Basket` itself — the same model the CLI's ``--today`` file is
validated with — so the HTTP API and the CLI cannot disagree on what a valid basket is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from retailsim.api.settings import MAX_BATCH_CEILING
from retailsim.ml.basket import Basket

#: A customer id as JSON sends it: an integer (not a string, float or boolean) that fits in 64 bits.
CustomerId = Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]
#: A customer's id in the source system of an imported log (``customers.external_id``), as a JSON string.
ExternalId = Annotated[str, Field(strict=True, min_length=1, max_length=200)]


def _exactly_one(body: BaseModel, a: str, b: str) -> None:
    given = [name for name in (a, b) if getattr(body, name) is not None]
    if len(given) != 1:  # the error handler names field ``a`` (see handlers._validation_handler)
        raise PydanticCustomError("one_of", "give exactly one of {a} and {b}", {"a": a, "b": b})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Body):
    """One customer to predict, optionally as of a date and with today's basket."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer_id": 17},
                {"external_id": "00042"},
                {
                    "customer_id": 17,
                    "as_of": "2024-06-30",
                    "today": {
                        "store_id": 3,
                        "items": [{"product_id": 42, "quantity": 2, "discount_pct": 0.1}],
                    },
                },
            ]
        },
    )

    customer_id: CustomerId | None = Field(
        None, description="The customer to predict for (a JSON integer); or give external_id."
    )
    external_id: ExternalId | None = Field(
        None,
        description="The customer's id in the source system of an imported log (a JSON string), instead of "
        "customer_id.",
    )
    as_of: dt.date | None = Field(
        None,
        description="Predict the 30 days after this day (its transactions included); omitted = the last "
        "day of the data.",
    )
    today: Basket | None = Field(
        None,
        description="Today's shopping (the as-of day): appended as one more transaction of that day before the "
        "features are computed, exactly like `retailsim ml predict --today basket.json`.",
    )

    @model_validator(mode="after")
    def _one_id(self) -> PredictRequest:
        _exactly_one(self, "customer_id", "external_id")
        return self


class Interval(BaseModel):
    """A prediction interval for the spend."""

    lo: float = Field(description="Lower bound.")
    hi: float = Field(description="Upper bound.")
    level: float = Field(description="Nominal coverage, e.g. 0.8.")


class Prediction(BaseModel):
    """What the model says about one customer (shared by /predict and the rows of /score)."""

    predicted_spend: float = Field(description="Expected net spend in the horizon after the as-of day.")
    p_buy: float | None = Field(None, description="Probability of any purchase in the horizon.")
    interval: Interval | None = Field(None, description="Prediction interval for the spend.")


class PredictResponse(Prediction):
    """The prediction for one customer."""

    customer_id: int
    external_id: str | None = Field(None, description="The source system's id (imported logs; else null).")
    as_of: dt.date = Field(description="The as-of day: features use data up to and including it.")
    horizon_days: int = Field(description="The prediction covers the days as_of + 1 … as_of + horizon_days.")
    segment: str | None = Field(None, description="Value segment by predicted spend: low, medium, high, top.")
    with_basket: bool = Field(False, description="True when today's basket was added before predicting.")
    model_id: str = Field(description="Identifier of the model that made the prediction.")
    model_version: str = Field(description="Content digest of that model (another whenever it is retrained).")


class ScoreRequest(_Body):
    """Customers to score in one call (at most ``max_batch``; more → 413)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer_ids": [17, 18, 99999], "as_of": "2024-06-30"},
                {"external_ids": ["00042", "00043"]},
            ]
        },
    )

    customer_ids: list[CustomerId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_BATCH_CEILING,
        description="Customer ids; the server's max_batch setting bounds the count (413 beyond it).",
    )
    external_ids: list[ExternalId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_BATCH_CEILING,
        description="Source-system ids of an imported log, instead of customer_ids (same bound).",
    )
    as_of: dt.date | None = Field(None, description="As-of day for every customer; omitted = the last day.")

    @model_validator(mode="after")
    def _one_list(self) -> ScoreRequest:
        _exactly_one(self, "customer_ids", "external_ids")
        return self

    @property
    def n_ids(self) -> int:
        """How many ids were asked for (duplicates included)."""
        return len(self.customer_ids or self.external_ids or [])


RowStatus = Literal["ok", "unknown_customer", "not_yet_customer", "invalid_id"]


class ScoreRow(BaseModel):
    """One requested id: its prediction, or why it could not be scored."""

    customer_id: int | None = Field(
        description="The surrogate id (null: an external id that matched nobody)."
    )
    external_id: str | None = Field(None, description="The source system's id (imported logs; else null).")
    status: RowStatus = Field(
        description="ok; unknown_customer (no such id); not_yet_customer (signed up after the as-of day)."
    )
    predicted_spend: float | None = None
    p_buy: float | None = None
    interval: Interval | None = None
    segment: str | None = None
    error: str | None = Field(None, description="Why the row was not scored (null when ok).")


class ScoreResponse(BaseModel):
    """Every requested id, in request order (duplicates included), with a per-row status."""

    as_of: dt.date
    horizon_days: int
    model_id: str
    model_version: str
    n_scored: int = Field(description="Rows with status ok.")
    n_failed: int = Field(description="Rows that could not be scored.")
    rows: list[ScoreRow]


class HealthResponse(BaseModel):
    """Liveness and what is being served."""

    status: Literal["ok"] = "ok"
    model_id: str
    model: str = Field(description="Kind of model (hurdle, xgb, lstm …).")
    model_version: str
    trained_at: str | None = Field(None, description="When the model was trained (ISO 8601).")
    data_manifest_hash: str | None = Field(
        None, description="Identity hash of the dataset manifest the model was trained on."
    )
    dataset_manifest_hash: str = Field(description="The same hash of the dataset being served.")
    serving_training_data: bool | None = Field(
        None, description="Whether the served dataset is the one the model was trained on."
    )
    horizon_days: int
    as_of_default: dt.date = Field(description="The as-of day used when a request gives none.")
    cached_as_of: list[dt.date] = Field(description="As-of days whose scores are in memory.")
    uptime_s: float


class ModelCard(BaseModel):
    """The model card written at training time (data, cutoffs, metrics, library versions)."""

    model_config = ConfigDict(extra="allow")

    model_id: str
    model_version: str
    card: dict[str, Any] = Field(description="The card as written by `retailsim ml train`.")


class ErrorResponse(BaseModel):
    """Every error answer (4xx/5xx) has this shape; none ever carries a stack trace."""

    status: int = Field(description="The HTTP status code, repeated.")
    code: str = Field(description="Machine-readable kind: unknown_customer, validation_error, …")
    message: str = Field(description="A human-readable explanation.")
    field: str | None = Field(None, description="The offending request field, e.g. today.items[2].quantity.")
    reason: str | None = Field(None, description="Why that field was refused.")
    id: int | str | list[int] | None = Field(
        None, description="The unknown id(s) on a 404 (a string for an external_id)."
    )
    request_id: str | None = Field(None, description="Quote this when reporting a server error.")
