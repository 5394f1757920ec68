"""Errors of the prediction capability.

Every class maps to one kind of user mistake, so the dashboard and the HTTP API can turn them into the right
message and status code without parsing text:

=============================  ==========  =====================================================
exception                      HTTP        when
=============================  ==========  =====================================================
:class:`UnknownCustomerError`  404         customer id not in the dataset
:class:`UnknownProductError`   404         a basket names a product that does not exist
:class:`UnknownStoreError`     404         a basket names a store that does not exist
:class:`BasketError`           422         empty basket, negative or absurd quantity, bad price …
:class:`AsOfError`             422         as-of date before the data or too far after it
:class:`CustomerNotKnownYet`   422         the customer signed up after the as-of date
:class:`SchemaMismatchError`   409         the model needs columns this dataset does not have
:class:`ArtifactError`         500         model files missing, tampered or of another version
:class:`NotEnoughDataError`    422         too little history for the requested cutoffs
=============================  ==========  =====================================================
"""

from __future__ import annotations

from collections.abc import Iterable

from retailsim.errors import InputDataError, RetailsimError


class MLError(RetailsimError):
    """Base class of the prediction errors."""


class UnknownCustomerError(MLError):
    """The customer id is not in the dataset (HTTP 404)."""

    def __init__(self, customer_id: object, *, field: str = "customer_id") -> None:
        super().__init__(f"unknown customer {customer_id!r}: no such customer in this dataset")
        self.customer_id = customer_id
        #: the request field that named it: ``customer_id`` or ``external_id`` (the source system's id)
        self.field = field


class UnknownProductError(MLError):
    """A basket line names a product that is not in the dataset's catalogue (HTTP 404)."""

    def __init__(self, product_ids: Iterable[int], *, lines: Iterable[int] = ()) -> None:
        self.product_ids = sorted(set(product_ids))
        self.lines = list(lines)
        where = f" (basket line {', '.join(str(i + 1) for i in self.lines)})" if self.lines else ""
        super().__init__(
            f"unknown product {', '.join(map(str, self.product_ids))}{where}: not in the product catalogue"
        )


class UnknownStoreError(MLError):
    """A basket names a store that is not in the dataset (HTTP 404)."""

    def __init__(self, store_id: int) -> None:
        super().__init__(f"unknown store {store_id}: no such store_id in this dataset")
        self.store_id = store_id


class BasketError(InputDataError):
    """Today's basket is invalid (empty, negative or absurd quantity, bad price; HTTP 422).

    ``column`` names the offending field (``items[2].quantity``), ``row`` the basket line (1-based).
    """


class AsOfError(MLError):
    """The as-of date is outside what the dataset can support (HTTP 422)."""


class CustomerNotKnownYet(MLError):
    """The customer signed up after the as-of date, so there is nothing to predict from (HTTP 422)."""

    def __init__(self, customer_id: object, signup: object, as_of: object) -> None:
        super().__init__(f"customer {customer_id} signed up on {signup}, after the as-of date {as_of}")
        self.customer_id = customer_id


class ArtifactError(MLError):
    """A model artifact is missing, unreadable, tampered with or of an unsupported version."""


class SchemaMismatchError(ArtifactError):
    """The model was trained on data with columns (or a horizon) this dataset does not have (HTTP 409)."""


class NotEnoughDataError(MLError):
    """The dataset's history is too short for the requested cutoffs and horizon."""
