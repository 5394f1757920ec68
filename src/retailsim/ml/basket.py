"""Today's shopping: a validated basket, turned into one more transaction of the as-of day.

The prediction must respond to today's basket exactly as the training pipeline would, so the basket is not
turned into features by hand: it becomes a header row and line rows with the dataset's schema, and an
:class:`OverlayDataset` shows them through the same DuckDB views (``transactions``, ``transaction_lines``)
every feature query reads. Scoring an ``OverlayDataset`` is, by construction, scoring a dataset with that
transaction appended.

>>> basket = Basket(store_id=3, items=[BasketItem(product_id=42, quantity=2)])
>>> basket.items[0].discount_pct
0.0
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retailsim import schema
from retailsim.ml.errors import BasketError, UnknownProductError, UnknownStoreError
from retailsim.storage.dataset import Dataset

_LINE = schema.TRANSACTION_LINES
_HEAD = schema.TRANSACTIONS
MAX_QUANTITY = int(_LINE.column("quantity").max or 50)
MAX_UNIT_PRICE = float(_LINE.column("unit_price").max or 5000)
MAX_DISCOUNT = float(_LINE.column("discount_pct").max or 0.8)
MAX_LINES = int(_HEAD.column("n_lines").max or 500)
#: Time of day given to today's basket (features only look at the day).
BASKET_TIME = dt.time(12, 0)


class BasketItem(BaseModel):
    """One line of today's basket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: int = Field(ge=1, description="Product bought (must be in the catalogue).")
    quantity: int = Field(
        ge=1, le=MAX_QUANTITY, description=f"Units, 1 to {MAX_QUANTITY} (the schema's limit per line)."
    )
    unit_price: float | None = Field(
        None,
        gt=0,
        le=MAX_UNIT_PRICE,
        description="Price per unit before discount; omitted = the product's list price.",
    )
    discount_pct: float = Field(
        0.0, ge=0, le=MAX_DISCOUNT, description="Discount off the unit price (0–0.8)."
    )


class Basket(BaseModel):
    """Today's shopping details: where, and what (the body of ``--today basket.json`` and ``POST /predict``).

    Examples
    --------
    ``{"store_id": 3, "items": [{"product_id": 42, "quantity": 2, "unit_price": 3.49, "discount_pct": 0.1}]}``
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_id: int = Field(ge=1, description="Store of the purchase (must exist).")
    items: list[BasketItem] = Field(
        min_length=1, max_length=MAX_LINES, description=f"1 to {MAX_LINES} lines; an empty basket is refused."
    )
    channel: Literal["in_store", "online", "mobile_app"] | None = Field(
        None, description="Sales channel; omitted = online for the online shop, else in_store."
    )
    payment_method: Literal["cash", "card", "mobile_wallet", "gift_card"] | None = None

    @classmethod
    def parse(cls, data: Any, *, source: str | None = None) -> Basket:
        """Validate a mapping (parsed JSON) into a basket.

        Raises
        ------
        BasketError
            Naming the first offending field (``items[2].quantity``) and the basket line.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise _basket_error(err, source) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Basket:
        """Read and validate a basket JSON file (``--today basket.json``)."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BasketError("basket file not found", file=str(p)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BasketError(f"not valid JSON: {err}", file=str(p)) from None
        return cls.parse(data, source=str(p))


def _basket_error(err: ValidationError, source: str | None) -> BasketError:
    e = err.errors()[0]
    loc = e["loc"]
    parts: list[str] = []
    row = None
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p + 1}]" if parts else f"[{p + 1}]"
            row = p + 1
        else:
            parts.append(str(p))
    column = ".".join(parts) or None
    msg = e["msg"]
    if e["type"] == "too_short" and loc == ("items",):
        msg = "the basket is empty: give at least one item"
    elif e["type"] == "missing":
        msg = "field required"
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    got = e.get("input")
    got_txt = (
        f" (got {got!r})"
        if e["type"] not in ("missing", "extra_forbidden", "too_short") and not isinstance(got, dict | list)
        else ""
    )
    return BasketError(f"{msg}{got_txt}{more}", file=source, row=row, column=column)


def _sql_ids(values: list[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def basket_rows(
    ds: Dataset, basket: Basket, customer_id: int, day: dt.date
) -> tuple[pa.Table, pa.Table | None]:
    """The header row and line rows ``basket`` adds to ``ds`` on ``day`` (schema-typed Arrow tables).

    Money follows the generator: line gross = quantity × unit price in cents, the discount is rounded to the
    cent, the line amount is gross − discount; the header sums its lines.

    Raises
    ------
    UnknownStoreError, UnknownProductError
        When the store or a product is not in the dataset.
    BasketError
        When a price is needed but the dataset has no catalogue to take the list price from.
    """
    con = ds.connect()
    try:
        store_format = None
        if ds.has_column("stores", "store_id"):
            row = con.execute("SELECT format FROM stores WHERE store_id = ?", [basket.store_id]).fetchone()
            if row is None:
                raise UnknownStoreError(basket.store_id)
            store_format = row[0]
        ids = [it.product_id for it in basket.items]
        prices: dict[int, float] = {}
        if ds.has_column("products", "product_id"):
            found = con.execute(
                f"SELECT product_id, list_price FROM products WHERE product_id IN ({_sql_ids(ids)})"
            ).fetchall()
            prices = {int(p): float(lp) if lp is not None else float("nan") for p, lp in found}
            unknown = [i for i, p in enumerate(ids) if p not in prices]
            if unknown:
                raise UnknownProductError([ids[i] for i in unknown], lines=unknown)
        next_txn = con.execute("SELECT COALESCE(MAX(txn_id), 0) + 1 FROM transactions").fetchone()
    finally:
        con.close()
    txn_id = int(next_txn[0]) if next_txn else 1
    price = []
    for i, it in enumerate(basket.items):
        if it.unit_price is not None:
            price.append(it.unit_price)
        elif it.product_id in prices and np.isfinite(prices[it.product_id]):
            price.append(prices[it.product_id])
        else:
            raise BasketError(
                "unit_price is required: this dataset has no list price for the product",
                row=i + 1,
                column=f"items[{i + 1}].unit_price",
            )
    qty = np.array([it.quantity for it in basket.items], dtype=np.int64)
    price_cents = np.round(np.array(price) * 100).astype(np.int64)
    disc = np.array([it.discount_pct for it in basket.items])
    gross = qty * price_cents
    disc_cents = np.round(gross * disc).astype(np.int64)
    amount = gross - disc_cents
    ts = dt.datetime.combine(day, BASKET_TIME)
    channel = basket.channel or ("online" if store_format == "online" else "in_store")
    header = {
        "txn_id": [txn_id],
        "customer_id": [int(customer_id)],
        "store_id": [basket.store_id],
        "txn_ts": [ts],
        "channel": [channel],
        "payment_method": [basket.payment_method],
        "n_lines": [len(basket.items)],
        "n_items": [int(qty.sum())],
        "gross_amount": [int(gross.sum()) / 100],
        "discount_amount": [int(disc_cents.sum()) / 100],
        "total_amount": [int(amount.sum()) / 100],
    }
    head = pa.Table.from_pydict(header, schema=_HEAD.arrow_schema())
    if not ds.has("transaction_lines"):
        return head, None
    n = len(basket.items)
    lines = pa.Table.from_pydict(
        {
            "txn_id": [txn_id] * n,
            "line_no": list(range(1, n + 1)),
            "product_id": ids,
            "quantity": qty.tolist(),
            "unit_price": (price_cents / 100).tolist(),
            "discount_pct": disc.tolist(),
            "discount_amount": (disc_cents / 100).tolist(),
            "promotion_id": [None] * n,
            "line_amount": (amount / 100).tolist(),
        },
        schema=_LINE.arrow_schema(),
    )
    return head, lines


class OverlayDataset(Dataset):
    """``base`` with extra rows appended to some tables, seen through the same views (nothing is written).

    Parameters
    ----------
    base
        The dataset.
    extra
        Table name → Arrow rows with that table's schema.
    """

    def __init__(self, base: Dataset, extra: dict[str, pa.Table]) -> None:
        self.base = base
        self.path = base.path
        self.extra = {t: rows for t, rows in extra.items() if rows is not None}
        manifest = copy.deepcopy(base.manifest)
        digest = hashlib.sha256()
        for t, rows in sorted(self.extra.items()):
            if t not in manifest["tables"]:
                raise BasketError(f"cannot add rows to {t!r}: this dataset has no such table")
            manifest["tables"][t]["rows"] += rows.num_rows
            digest.update(t.encode())
            digest.update(json.dumps(rows.to_pylist(), default=str, sort_keys=True).encode())
        # a distinct identity for caches keyed by the manifest's files (e.g. the loyalty activity cache)
        manifest["files"] = [
            *manifest["files"],
            {
                "path": f"<overlay {digest.hexdigest()[:16]}>",
                "table": "__overlay__",
                "rows": 0,
                "bytes": 0,
                "sha256": digest.hexdigest(),
            },
        ]
        self.manifest = manifest

    def files(self, table: str) -> list[Path]:
        return self.base.files(table)

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """The base dataset's views, with each extended table a ``UNION ALL`` of its files and the extra rows."""
        con = self.base.connect(con)
        for t, rows in self.extra.items():
            spec = schema.table(t)
            cols = ", ".join(f'"{c}"' for c in spec.column_names)
            con.register(f"__overlay_{t}", rows)
            con.execute(f'ALTER VIEW "{t}" RENAME TO "__base_{t}"')
            con.execute(
                f'CREATE VIEW "{t}" AS SELECT {cols} FROM "__base_{t}" UNION ALL SELECT {cols} FROM "__overlay_{t}"'
            )
        return con


def with_basket(ds: Dataset, basket: Basket, customer_id: int, day: dt.date) -> OverlayDataset:
    """``ds`` as if ``customer_id`` had bought ``basket`` on ``day`` (validated against the dataset)."""
    head, lines = basket_rows(ds, basket, customer_id, day)
    extra: dict[str, pa.Table] = {"transactions": head}
    if lines is not None:
        extra["transaction_lines"] = lines
    return OverlayDataset(ds, extra)
