"""Customers as users name them: the source system's id (``customers.external_id``) of an imported log, or the
surrogate ``customer_id``.

An imported log keeps each customer's own id in ``external_id`` and numbers the customers 1, 2, … in
``customer_id`` (the key every table joins on). People and other systems know the source ids, so every
place that takes a customer from a user — ``ml predict --customer``, ``ml score --customers``, the HTTP API,
the dashboard — resolves it here, and every output that names customers carries both ids.

Resolution of a value given by a user (:func:`resolve`):

* on a dataset with source ids, a *string* (spaces around it ignored) equal to a source id is that customer —
  ``"0001"`` is CDNOW's customer 0001, whatever its surrogate id; text typed by a person (``ml predict
  --customer``, a CSV of ids, the dashboard) is a string;
* otherwise a whole number — a Python/NumPy integer always, a string of digits when it matched no source
  id — is the surrogate ``customer_id`` (on generated data, the only kind of id), so a program holding
  surrogate ids (the HTTP API's integer ``customer_id``) is never redirected to a source id that happens to
  read the same;
* anything else resolves to nothing, and callers report it as unknown (or as not an id at all where the
  dataset has no source ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from retailsim.storage.dataset import Dataset


def has_source_ids(ds: Dataset) -> bool:
    """Whether the dataset's customers carry source-system ids (an imported log does; generated data not)."""
    if not ds.has_column("customers", "external_id"):
        return False
    con = ds.connect()
    try:
        row = con.execute("SELECT count(external_id) > 0 FROM customers").fetchone()
    finally:
        con.close()
    return bool(row and row[0])


def as_surrogate(value: Any) -> int | None:
    """``value`` as a whole-number id (``17``, ``"17"``, ``17.0``), else None (``True``, ``"1.5"``, ``"A7"``)."""
    if isinstance(value, bool):
        return None
    try:
        iv = int(str(value).strip()) if isinstance(value, str) else int(value)
        return iv if float(value) == iv else None
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class Resolved:
    """What user-given values name: ``ids[i]`` is the surrogate id ``values[i]`` stands for (None: nothing
    matched); ``by_source[i]`` says it matched a source id."""

    ids: list[int | None]
    by_source: list[bool]
    source_ids_exist: bool


def by_source_id(ds: Dataset, values: Sequence[Any]) -> dict[str, int]:
    """The surrogate id of every value whose text (spaces around it ignored) is a source id (none on a
    dataset without source ids)."""
    wanted = sorted({t for t in (None if v is None else str(v).strip() for v in values) if t})
    if not wanted or not has_source_ids(ds):
        return {}
    con = ds.connect()
    try:
        con.register("customer_probe", pd.DataFrame({"external_id": pd.Series(wanted, dtype="string")}))
        rows = con.execute(
            "SELECT c.external_id, min(c.customer_id) FROM customers c "
            "JOIN customer_probe p USING (external_id) GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return {str(e): int(c) for e, c in rows}


def resolve(ds: Dataset, values: Sequence[Any]) -> Resolved:
    """Map user-given customer values to surrogate ``customer_id``\\s (see the module docstring for the rule).

    A surrogate id is returned as given: whether such a customer exists is the caller's check.
    """
    sources = has_source_ids(ds)
    matched = by_source_id(ds, [v for v in values if isinstance(v, str)]) if sources else {}
    ids: list[int | None] = []
    by_source: list[bool] = []
    for v in values:
        hit = matched.get(v.strip()) if isinstance(v, str) else None
        ids.append(hit if hit is not None else as_surrogate(v))
        by_source.append(hit is not None)
    return Resolved(ids, by_source, sources)


def source_ids(ds: Dataset, customer_ids: Sequence[int | None] | np.ndarray) -> list[str | None]:
    """The source id of each surrogate id (None for generated data, unknown ids and None)."""
    ids = list(customer_ids)
    if not ids or not has_source_ids(ds):
        return [None] * len(ids)
    wanted = sorted({int(c) for c in ids if c is not None and not pd.isna(c)})
    con = ds.connect()
    try:
        con.register("customer_probe", pd.DataFrame({"customer_id": np.asarray(wanted, dtype=np.int64)}))
        rows = con.execute(
            "SELECT customer_id, external_id FROM customers JOIN customer_probe USING (customer_id)"
        ).fetchall()
    finally:
        con.close()
    found = {int(c): (None if e is None else str(e)) for c, e in rows}
    return [None if c is None or pd.isna(c) else found.get(int(c)) for c in ids]
