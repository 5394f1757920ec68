"""The flat export: one row per line item joined with its transaction, customer, product and store."""

from __future__ import annotations

from pathlib import Path

from retailsim.errors import OutputExistsError, RetailsimError
from retailsim.storage.dataset import Dataset

FLAT_SQL = """
SELECT l.txn_id, l.line_no, t.txn_ts, t.channel, t.payment_method,
       t.customer_id, c.first_name, c.last_name, c.gender, c.birth_date, c.city AS customer_city,
       c.region AS customer_region, c.signup_date, c.home_store_id,
       t.store_id, s.store_name, s.format AS store_format, s.city AS store_city, s.region AS store_region,
       l.product_id, p.sku, p.product_name, p.department, p.category, p.subcategory, p.brand,
       p.is_private_label, l.quantity, l.unit_price, l.discount_pct, l.discount_amount, l.promotion_id,
       l.line_amount
FROM transaction_lines l
JOIN transactions t USING (txn_id)
LEFT JOIN customers c ON c.customer_id = t.customer_id
LEFT JOIN products p ON p.product_id = l.product_id
LEFT JOIN stores s ON s.store_id = t.store_id
ORDER BY l.txn_id, l.line_no
"""


def export_flat(dataset: str | Path, out: str | Path, *, overwrite: bool = False) -> int:
    """Write the flat table to ``out`` (.parquet or .csv) atomically; return the row count."""
    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise RetailsimError(f"--out must end in .parquet or .csv (got {out.name})")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    ds = Dataset(dataset)
    for t in ("transaction_lines", "transactions", "customers", "products", "stores"):
        if not ds.has(t):
            raise RetailsimError(f"{ds.path} has no {t} table: the flat export needs line items")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    con = ds.connect()
    try:
        opts = "(FORMAT parquet, COMPRESSION zstd)" if out.suffix == ".parquet" else "(FORMAT csv, HEADER)"
        con.execute(f"COPY ({FLAT_SQL}) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' {opts}")
        n = con.execute("SELECT count(*) FROM transaction_lines").fetchone()[0]  # type: ignore[index]
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    tmp.replace(out)
    return int(n)
