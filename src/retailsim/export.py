"""The flat export: one row per line item joined with its transaction, customer, product and store.

Columns a dataset does not really have (an imported log has no stores, products or names, say; see
:meth:`~retailsim.storage.dataset.Dataset.absent_columns`) are left out instead of exported as nulls, and an
imported log's source customer id comes along as ``external_id``.
"""

from __future__ import annotations

from pathlib import Path

from retailsim.errors import OutputExistsError, RetailsimError
from retailsim.storage.customer_ids import has_source_ids
from retailsim.storage.dataset import Dataset

#: (table alias, source column, output name) of the flat table, in output order.
FLAT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("l", "txn_id", "txn_id"),
    ("l", "line_no", "line_no"),
    ("t", "txn_ts", "txn_ts"),
    ("t", "channel", "channel"),
    ("t", "payment_method", "payment_method"),
    ("t", "customer_id", "customer_id"),
    ("c", "external_id", "external_id"),
    ("c", "first_name", "first_name"),
    ("c", "last_name", "last_name"),
    ("c", "gender", "gender"),
    ("c", "birth_date", "birth_date"),
    ("c", "city", "customer_city"),
    ("c", "region", "customer_region"),
    ("c", "signup_date", "signup_date"),
    ("c", "home_store_id", "home_store_id"),
    ("t", "store_id", "store_id"),
    ("s", "store_name", "store_name"),
    ("s", "format", "store_format"),
    ("s", "city", "store_city"),
    ("s", "region", "store_region"),
    ("l", "product_id", "product_id"),
    ("p", "sku", "sku"),
    ("p", "product_name", "product_name"),
    ("p", "department", "department"),
    ("p", "category", "category"),
    ("p", "subcategory", "subcategory"),
    ("p", "brand", "brand"),
    ("p", "is_private_label", "is_private_label"),
    ("l", "quantity", "quantity"),
    ("l", "unit_price", "unit_price"),
    ("l", "discount_pct", "discount_pct"),
    ("l", "discount_amount", "discount_amount"),
    ("l", "promotion_id", "promotion_id"),
    ("l", "line_amount", "line_amount"),
)

_TABLES = {"l": "transaction_lines", "t": "transactions", "c": "customers", "p": "products", "s": "stores"}
_JOINS = {
    "c": "LEFT JOIN customers c ON c.customer_id = t.customer_id",
    "p": "LEFT JOIN products p ON p.product_id = l.product_id",
    "s": "LEFT JOIN stores s ON s.store_id = t.store_id",
}


def flat_sql(ds: Dataset) -> str:
    """The flat table's query for this dataset: the columns it really has, joined to the tables it has
    (``external_id`` only where customers carry source ids: generated data has none)."""
    sources = has_source_ids(ds)
    cols = [
        f"{alias}.{col}" + ("" if col == name else f" AS {name}")
        for alias, col, name in FLAT_COLUMNS
        if ds.has_column(_TABLES[alias], col) and (col != "external_id" or sources)
    ]
    used = {c.split(".", 1)[0] for c in cols}
    joins = [sql for alias, sql in _JOINS.items() if alias in used]
    return (
        f"SELECT {', '.join(cols)}\nFROM transaction_lines l\nJOIN transactions t USING (txn_id)\n"
        + "".join(j + "\n" for j in joins)
        + "ORDER BY l.txn_id, l.line_no"
    )


def export_flat(dataset: str | Path, out: str | Path, *, overwrite: bool = False) -> int:
    """Write the flat table to ``out`` (.parquet or .csv) atomically; return the row count."""
    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise RetailsimError(f"--out must end in .parquet or .csv (got {out.name})")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    ds = Dataset(dataset)
    for t in ("transaction_lines", "transactions"):
        if not ds.has(t):
            raise RetailsimError(f"{ds.path} has no {t} table: the flat export needs line items")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    con = ds.connect()
    try:
        opts = "(FORMAT parquet, COMPRESSION zstd)" if out.suffix == ".parquet" else "(FORMAT csv, HEADER)"
        con.execute(f"COPY ({flat_sql(ds)}) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' {opts}")
        n = con.execute("SELECT count(*) FROM transaction_lines").fetchone()[0]  # type: ignore[index]
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    tmp.replace(out)
    return int(n)
