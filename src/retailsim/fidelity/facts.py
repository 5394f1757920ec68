"""Stylised facts of retail transaction data, computed in DuckDB over a dataset's views.

Each fact has an id, a definition (docs/facts.md) and is ``None`` ("not available") when the dataset cannot
support it (for example no line items in an imported log), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from retailsim.storage.dataset import Dataset


@dataclass(frozen=True)
class Fact:
    id: str
    label: str
    definition: str
    needs: tuple[str, ...] = ("transactions",)


CORE_FACTS: tuple[Fact, ...] = (
    Fact("customers", "customers with ≥ 1 transaction", "Distinct non-null customer_id in transactions."),
    Fact("transactions", "transactions", "Rows of transactions."),
    Fact("lines", "line items", "Rows of transaction_lines.", ("transaction_lines",)),
    Fact(
        "one_time_buyer_share",
        "one-time-buyer share",
        "Customers with exactly one transaction / customers with at least one.",
    ),
    Fact(
        "purchases_per_customer_mean",
        "purchases per active customer (mean)",
        "Mean transactions per customer with at least one.",
    ),
    Fact(
        "purchases_per_customer_median",
        "purchases per active customer (median)",
        "Median transactions per customer with at least one.",
    ),
    Fact("frequency_skew", "frequency skew", "Mean / median transactions per customer."),
    Fact(
        "top20_revenue_share",
        "revenue share of top 20% customers",
        "Revenue of the 20% of customers with most revenue / revenue of all identified customers.",
    ),
    Fact("top1_revenue_share", "revenue share of top 1% customers", "Same with the top 1%."),
    Fact(
        "median_interpurchase_days",
        "median inter-purchase time (days)",
        "Median of days between consecutive transactions of the same customer.",
    ),
    Fact("weekend_share", "weekend share", "Share of transactions on Saturday or Sunday."),
    Fact(
        "december_lift",
        "December lift",
        "December revenue / mean monthly revenue of the same calendar year, over years fully observed.",
    ),
)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return None if row is None else row[0]


def core_facts(ds: Dataset, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """The facts the demo summary prints (a subset of the full fidelity report)."""
    own = con is None
    con = con or ds.connect()
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _cust AS
            SELECT customer_id, count(*) AS n, sum(total_amount) AS revenue
            FROM transactions WHERE customer_id IS NOT NULL GROUP BY customer_id
        """)
        f: dict[str, Any] = {}
        f["customers"] = _scalar(con, "SELECT count(*) FROM _cust")
        f["transactions"] = _scalar(con, "SELECT count(*) FROM transactions")
        f["lines"] = (
            _scalar(con, "SELECT count(*) FROM transaction_lines") if ds.has("transaction_lines") else None
        )
        f["one_time_buyer_share"] = _scalar(con, "SELECT avg((n = 1)::DOUBLE) FROM _cust")
        f["purchases_per_customer_mean"] = _scalar(con, "SELECT avg(n) FROM _cust")
        f["purchases_per_customer_median"] = _scalar(con, "SELECT median(n) FROM _cust")
        mean, med = f["purchases_per_customer_mean"], f["purchases_per_customer_median"]
        f["frequency_skew"] = mean / med if mean and med else None
        for fid, q in (("top20_revenue_share", 0.2), ("top1_revenue_share", 0.01)):
            f[fid] = _scalar(
                con,
                f"""
                WITH r AS (SELECT revenue, row_number() OVER (ORDER BY revenue DESC) AS k,
                                  count(*) OVER () AS n FROM _cust)
                SELECT sum(revenue) FILTER (WHERE k <= ceil({q} * n)) / nullif(sum(revenue), 0) FROM r""",
            )
        f["median_interpurchase_days"] = _scalar(
            con,
            """
            SELECT median(gap) FROM (
              SELECT epoch(txn_ts - lag(txn_ts) OVER (PARTITION BY customer_id ORDER BY txn_ts)) / 86400.0 AS gap
              FROM transactions WHERE customer_id IS NOT NULL) WHERE gap IS NOT NULL""",
        )
        f["weekend_share"] = _scalar(con, "SELECT avg((isodow(txn_ts) >= 6)::DOUBLE) FROM transactions")
        f["december_lift"] = _scalar(
            con,
            """
            WITH m AS (SELECT year(txn_ts) AS y, month(txn_ts) AS mo, sum(total_amount) AS rev
                       FROM transactions GROUP BY ALL),
                 full_years AS (SELECT y FROM m GROUP BY y HAVING count(*) = 12)
            SELECT avg(dec_rev / mean_rev) FROM (
              SELECT y, max(rev) FILTER (WHERE mo = 12) AS dec_rev, avg(rev) AS mean_rev
              FROM m WHERE y IN (SELECT y FROM full_years) GROUP BY y)""",
        )
        return f
    finally:
        if own:
            con.close()
