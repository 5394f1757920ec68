"""Stylised facts of retail transaction data, computed in DuckDB over a dataset's views.

Every fact has an id, a label, a unit and a precise definition (rendered into ``docs/facts.md`` by
:func:`facts_markdown`). A fact is ``None`` ("not available") when the dataset cannot support it — no line
items, no products, no promotions, no full calendar year in an imported log — never zero.

All work happens in SQL: a few temporary tables (one row per transaction, per customer, per gap) are built
once and every fact is an aggregate over them. There is no Python loop over rows.

The *observed period* ``[start, end)`` of a dataset is its manifest's ``horizon`` (the simulated horizon of a
generated dataset; first transaction date to the day after the last one for an imported log), or, when a
manifest has none, the dates of its first and last transactions.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb

from retailsim.storage.dataset import Dataset

Unit = Literal["count", "share", "ratio", "transactions", "days", "money", "items", "lines"]
Kind = Literal["scalar", "distribution"]
FactValue = float | int | dict[str, float] | None

FREQUENCY_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    *((str(k), k, k) for k in range(1, 11)),
    ("11-20", 11, 20),
    ("21-50", 21, 50),
    ("51+", 51, None),
)
GAP_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1-7", 1, 7),
    ("8-14", 8, 14),
    ("15-30", 15, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-180", 91, 180),
    ("181-365", 181, 365),
    ("366+", 366, None),
)
BASKET_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    *((str(k), k, k) for k in range(1, 11)),
    ("11-15", 11, 15),
    ("16-20", 16, 20),
    ("21-30", 21, 30),
    ("31+", 31, None),
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LORENZ_POINTS = 20  # customer shares 0, 0.05, ..., 1
RETENTION_MONTHS = 24  # longest cohort-retention horizon reported


@dataclass(frozen=True)
class Fact:
    """A stylised fact: what it is called, what it means and what a dataset needs to have it.

    ``needs`` lists ``table`` or ``table.column`` entries; when any is missing (or listed as absent in the
    manifest) the fact is not available.
    """

    id: str
    label: str
    definition: str
    unit: Unit = "share"
    kind: Kind = "scalar"
    needs: tuple[str, ...] = ("transactions",)
    group: str = "customers"


def _f(
    id: str, label: str, definition: str, unit: Unit = "share", *, kind: Kind = "scalar", **kw: Any
) -> Fact:
    return Fact(id, label, definition, unit, kind, **kw)


_LINES = ("transaction_lines",)
_PRODUCT_LINES = ("transaction_lines.product_id", "transaction_lines.line_amount", "products")

FACTS: tuple[Fact, ...] = (
    # --- counts ------------------------------------------------------------------------------------
    _f(
        "customers",
        "customers with ≥ 1 transaction",
        "Distinct non-null `customer_id` in transactions.",
        "count",
        group="counts",
    ),
    _f("transactions", "transactions", "Rows of `transactions`.", "count", group="counts"),
    _f("lines", "line items", "Rows of `transaction_lines`.", "count", needs=_LINES, group="counts"),
    _f("revenue", "revenue", "Sum of `total_amount` over all transactions.", "money", group="counts"),
    _f(
        "anonymous_share",
        "anonymous share",
        "Transactions with a null `customer_id` / all transactions.",
        group="counts",
    ),
    # --- purchase frequency ------------------------------------------------------------------------
    _f(
        "one_time_buyer_share",
        "one-time-buyer share",
        "Customers with exactly one transaction / customers with at least one.",
    ),
    _f(
        "purchases_per_customer_mean",
        "purchases per active customer (mean)",
        "Mean number of transactions per customer with at least one.",
        "transactions",
    ),
    _f(
        "purchases_per_customer_median",
        "purchases per active customer (median)",
        "Median number of transactions per customer with at least one (the mean of the two middle values "
        "for an even number of customers).",
        "transactions",
    ),
    _f(
        "purchases_per_customer_p90",
        "purchases per active customer (p90)",
        "90th percentile of transactions per customer (linear interpolation).",
        "transactions",
    ),
    _f(
        "frequency_skew",
        "frequency skew",
        "Mean / median transactions per customer.",
        "ratio",
    ),
    _f(
        "frequency_distribution",
        "purchase frequency distribution",
        "Share of customers with 1, 2, …, 10, 11–20, 21–50 and 51+ transactions.",
        kind="distribution",
    ),
    _f(
        "repeat_within_90d",
        "repeat rate within 90 days",
        "Among customers whose first transaction is at least 90 days before the last observed day: the "
        "share whose second transaction is at most 90 calendar days after the first (same day included).",
    ),
    # --- inter-purchase times -----------------------------------------------------------------------
    _f(
        "median_interpurchase_days",
        "median inter-purchase time (days)",
        "Median of the calendar days between consecutive transactions of the same customer (dates "
        "compared, so two purchases on one day are 0 days apart; ties in time ordered by `txn_id`).",
        "days",
        group="gaps",
    ),
    _f(
        "p90_interpurchase_days",
        "inter-purchase time p90 (days)",
        "90th percentile of the same gaps (linear interpolation).",
        "days",
        group="gaps",
    ),
    _f(
        "interpurchase_distribution",
        "inter-purchase time distribution",
        "Share of gaps of 0, 1–7, 8–14, 15–30, 31–60, 61–90, 91–180, 181–365 and 366+ days.",
        kind="distribution",
        group="gaps",
    ),
    # --- revenue concentration ----------------------------------------------------------------------
    _f(
        "top20_revenue_share",
        "revenue share of top 20% customers",
        "Revenue of the ⌈0.2·n⌉ customers with most revenue / revenue of all n customers with at least "
        "one transaction (revenue = sum of `total_amount`; anonymous transactions excluded).",
    ),
    _f(
        "top1_revenue_share",
        "revenue share of top 1% customers",
        "Same with the ⌈0.01·n⌉ customers with most revenue.",
    ),
    _f(
        "revenue_gini",
        "Gini coefficient of customer revenue",
        "Gini coefficient of revenue per customer with at least one transaction: "
        "Σᵢ(2i − n − 1)·xᵢ / (n·Σxᵢ) with xᵢ sorted ascending.",
        "ratio",
    ),
    _f(
        "lorenz_curve",
        "Lorenz curve of customer revenue",
        "Share of revenue of the ⌊p·n⌋ customers with least revenue, for p = 0, 0.05, …, 1.",
        kind="distribution",
    ),
    # --- baskets ------------------------------------------------------------------------------------
    _f(
        "transaction_value_mean",
        "mean transaction value",
        "Mean `total_amount` per transaction (all transactions).",
        "money",
        group="baskets",
    ),
    _f(
        "transaction_value_median",
        "median transaction value",
        "Median `total_amount` per transaction.",
        "money",
        group="baskets",
    ),
    _f(
        "transaction_value_p90",
        "transaction value p90",
        "90th percentile of `total_amount` (linear interpolation).",
        "money",
        group="baskets",
    ),
    _f(
        "basket_size_mean",
        "basket size (mean items)",
        "Mean units per transaction: `n_items`, the line quantities summed.",
        "items",
        needs=("transactions.n_items",),
        group="baskets",
    ),
    _f(
        "basket_size_median",
        "basket size (median items)",
        "Median `n_items` per transaction.",
        "items",
        needs=("transactions.n_items",),
        group="baskets",
    ),
    _f(
        "basket_small_share",
        "basket size spread (1–2 items)",
        "Share of transactions with 1 or 2 units (`n_items` ≤ 2).",
        needs=("transactions.n_items",),
        group="baskets",
    ),
    _f(
        "basket_size_distribution",
        "basket size distribution",
        "Share of transactions with 1, 2, …, 10, 11–15, 16–20, 21–30 and 31+ units.",
        kind="distribution",
        needs=("transactions.n_items",),
        group="baskets",
    ),
    _f(
        "lines_per_transaction_mean",
        "line items per transaction (mean)",
        "Mean `n_lines` per transaction (distinct line items, quantities not summed).",
        "lines",
        needs=("transactions.n_lines",),
        group="baskets",
    ),
    # --- calendar ----------------------------------------------------------------------------------
    _f(
        "weekend_share",
        "weekend share",
        "Share of transactions on Saturday or Sunday.",
        group="calendar",
    ),
    _f(
        "weekly_shape",
        "weekly shape (busiest / quietest weekday)",
        "Transactions on the busiest weekday / transactions on the quietest weekday.",
        "ratio",
        group="calendar",
    ),
    _f(
        "weekday_profile",
        "weekly profile",
        "Share of transactions by weekday, Mon … Sun.",
        kind="distribution",
        group="calendar",
    ),
    _f(
        "monthly_profile",
        "yearly profile",
        "For each month of the year with observed days: transactions per observed day in that month of "
        "the year, normalised to sum to 1 (so uneven coverage of months does not bias it).",
        kind="distribution",
        group="calendar",
    ),
    _f(
        "peak_trough_ratio",
        "yearly peak / trough",
        "Largest / smallest value of the yearly profile (at least two months of the year observed).",
        "ratio",
        group="calendar",
    ),
    _f(
        "december_lift",
        "December lift",
        "December revenue / mean monthly revenue of the same calendar year, averaged over calendar years "
        "that lie wholly inside the observed period.",
        "ratio",
        group="calendar",
    ),
    # --- cohorts -----------------------------------------------------------------------------------
    *(
        _f(
            f"cohort_retention_{k}m",
            f"{k}-month cohort retention",
            f"Customers with a transaction in calendar month m₀ + {k} / customers of the cohort, pooled over "
            "monthly signup cohorts m₀ (month of `customers.signup_date`; signups inside the observed "
            f"period only) whose month m₀ + {k} is wholly observed.",
            needs=("customers.signup_date",),
            group="cohorts",
        )
        for k in (1, 3, 6, 12)
    ),
    _f(
        "cohort_retention_curve",
        "cohort retention curve",
        f"The same share for k = 0, 1, …, {RETENTION_MONTHS} months after the signup month (where observed).",
        kind="distribution",
        needs=("customers.signup_date",),
        group="cohorts",
    ),
    # --- prices, promotions, assortment ------------------------------------------------------------
    _f(
        "unit_price_mean",
        "mean unit price",
        "Mean `unit_price` over line items.",
        "money",
        needs=("transaction_lines.unit_price",),
        group="lines",
    ),
    _f(
        "unit_price_median",
        "median unit price",
        "Median `unit_price` over line items.",
        "money",
        needs=("transaction_lines.unit_price",),
        group="lines",
    ),
    _f(
        "promotion_share",
        "promotion share",
        "Line items with a `promotion_id` / all line items.",
        needs=("transaction_lines.promotion_id",),
        group="lines",
    ),
    _f(
        "private_label_share",
        "private label share",
        "Revenue (`line_amount`) of private-label products / revenue of lines with a known product.",
        needs=(*_PRODUCT_LINES, "products.is_private_label"),
        group="assortment",
    ),
    _f(
        "top_category_share",
        "top category share",
        "Revenue share of the department with most revenue (lines with a known product).",
        needs=(*_PRODUCT_LINES, "products.department"),
        group="assortment",
    ),
    _f(
        "category_shares",
        "category shares",
        "Revenue share of each department (lines with a known product).",
        kind="distribution",
        needs=(*_PRODUCT_LINES, "products.department"),
        group="assortment",
    ),
)
FACT_INDEX: dict[str, Fact] = {f.id: f for f in FACTS}

CORE_FACT_IDS: tuple[str, ...] = (
    "customers",
    "transactions",
    "lines",
    "one_time_buyer_share",
    "purchases_per_customer_mean",
    "purchases_per_customer_median",
    "frequency_skew",
    "top20_revenue_share",
    "top1_revenue_share",
    "median_interpurchase_days",
    "weekend_share",
    "december_lift",
)
CORE_FACTS: tuple[Fact, ...] = tuple(FACT_INDEX[i] for i in CORE_FACT_IDS)
"""The facts the demo summary prints after ``generate`` (a subset of :data:`FACTS`)."""


@dataclass
class FactReport:
    """The facts of one dataset, with the observed period they refer to."""

    dataset: str
    kind: str
    start: dt.date
    end: dt.date  # exclusive
    values: dict[str, FactValue] = field(default_factory=dict)

    def __getitem__(self, fact_id: str) -> FactValue:
        return self.values[fact_id]

    def get(self, fact_id: str) -> FactValue:
        return self.values.get(fact_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"dataset", "kind", "observed": {"start", "end"}, "facts": {...}}``."""
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "observed": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "facts": dict(self.values),
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON (``NaN`` never appears: unavailable facts are ``null``)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def available(ds: Dataset, fact: Fact) -> bool:
    """Whether ``ds`` has every table and column ``fact`` needs."""
    for need in fact.needs:
        table, _, column = need.partition(".")
        if not (ds.has_column(table, column) if column else ds.has(table)):
            return False
    return True


def observed_period(ds: Dataset, con: duckdb.DuckDBPyConnection | None = None) -> tuple[dt.date, dt.date]:
    """``[start, end)`` of the observed period: the manifest's horizon, else first to last transaction date."""
    hz = ds.manifest.get("horizon")
    if hz and hz.get("start") and hz.get("end"):
        return dt.date.fromisoformat(hz["start"]), dt.date.fromisoformat(hz["end"])
    own = con is None
    con = con or ds.connect()
    try:
        row = con.execute("SELECT min(txn_ts)::DATE, max(txn_ts)::DATE FROM transactions").fetchone()
    finally:
        if own:
            con.close()
    if row is None or row[0] is None:
        today = dt.date(1970, 1, 1)
        return today, today
    return row[0], row[1] + dt.timedelta(days=1)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    row = con.execute(sql, params or []).fetchone()
    assert row is not None  # aggregates always return one row
    return tuple(row)


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, int):
        return v
    x = float(v)
    return None if math.isnan(x) or math.isinf(x) else x


def _ratio(a: Any, b: Any) -> float | None:
    return float(a) / float(b) if a is not None and b not in (None, 0) else None


def _bucket_case(col: str, buckets: tuple[tuple[str, int, int | None], ...]) -> str:
    whens = " ".join(
        f"WHEN {col} >= {lo}" + (f" AND {col} <= {hi}" if hi is not None else "") + f" THEN '{label}'"
        for label, lo, hi in buckets
    )
    return f"CASE {whens} END"


def _distribution(
    con: duckdb.DuckDBPyConnection, table: str, col: str, buckets: tuple[tuple[str, int, int | None], ...]
) -> dict[str, float] | None:
    rows = con.execute(
        f"SELECT {_bucket_case(col, buckets)} AS b, count(*) FROM {table} WHERE {col} IS NOT NULL GROUP BY b"
    ).fetchall()
    total = sum(n for _, n in rows)
    if not total:
        return None
    got = {b: n for b, n in rows}
    return {label: got.get(label, 0) / total for label, _, _ in buckets}


# --------------------------------------------------------------------------------------------------------
# fact groups: each fills ``out`` for its facts; called only when at least one of its facts is wanted
# --------------------------------------------------------------------------------------------------------


def _prepare(con: duckdb.DuckDBPyConnection, ds: Dataset) -> None:
    n_items = "n_items" if ds.has_column("transactions", "n_items") else "NULL::INTEGER"
    n_lines = "n_lines" if ds.has_column("transactions", "n_lines") else "NULL::INTEGER"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _t AS
        SELECT txn_id, customer_id, txn_ts, txn_ts::DATE AS d, total_amount AS amt,
               {n_items} AS n_items, {n_lines} AS n_lines
        FROM transactions""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _c AS
        SELECT customer_id, count(*) AS n, sum(amt) AS rev, min(d) AS first_d, max(d) AS last_d
        FROM _t WHERE customer_id IS NOT NULL GROUP BY customer_id""")


def _counts(con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], _: Any) -> None:
    n_txn, revenue, anon = _one(con, "SELECT count(*), sum(amt), avg((customer_id IS NULL)::DOUBLE) FROM _t")
    out["customers"] = _one(con, "SELECT count(*) FROM _c")[0]
    out["transactions"] = n_txn
    out["revenue"] = _num(revenue)
    out["anonymous_share"] = _num(anon)
    if ds.has("transaction_lines"):
        out["lines"] = ds.rows("transaction_lines") or _one(con, "SELECT count(*) FROM transaction_lines")[0]


def _customers(
    con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], period: tuple[dt.date, dt.date]
) -> None:
    one, mean, med, p90 = _one(
        con, "SELECT avg((n = 1)::DOUBLE), avg(n), median(n), quantile_cont(n, 0.9) FROM _c"
    )
    out["one_time_buyer_share"] = _num(one)
    out["purchases_per_customer_mean"] = _num(mean)
    out["purchases_per_customer_median"] = _num(med)
    out["purchases_per_customer_p90"] = _num(p90)
    out["frequency_skew"] = _ratio(mean, med)
    out["frequency_distribution"] = _distribution(con, "_c", "n", FREQUENCY_BUCKETS)
    last_day = period[1] - dt.timedelta(days=1)
    out["repeat_within_90d"] = _num(
        _one(
            con,
            """
            WITH r AS (
              SELECT customer_id, d, row_number() OVER (PARTITION BY customer_id ORDER BY txn_ts, txn_id) AS k
              FROM _t WHERE customer_id IS NOT NULL),
            f AS (SELECT customer_id, min(d) FILTER (WHERE k = 1) AS d1, min(d) FILTER (WHERE k = 2) AS d2
                  FROM r WHERE k <= 2 GROUP BY customer_id)
            SELECT avg((d2 IS NOT NULL AND date_diff('day', d1, d2) <= 90)::DOUBLE)
            FROM f WHERE date_diff('day', d1, ?::DATE) >= 90""",
            [last_day],
        )[0]
    )
    # revenue concentration
    n, top20, top1, gini = _one(
        con,
        """
        WITH r AS (SELECT rev, row_number() OVER (ORDER BY rev DESC, customer_id) AS k,
                          count(*) OVER () AS n FROM _c)
        SELECT max(n),
               sum(rev) FILTER (WHERE k <= ceil(0.2 * n)) / nullif(sum(rev), 0),
               sum(rev) FILTER (WHERE k <= ceil(0.01 * n)) / nullif(sum(rev), 0),
               sum((2 * (n + 1 - k) - n - 1) * rev) / nullif(max(n) * sum(rev), 0)
        FROM r""",
    )
    out["top20_revenue_share"] = _num(top20)
    out["top1_revenue_share"] = _num(top1)
    out["revenue_gini"] = _num(gini)
    out["lorenz_curve"] = None
    if n:
        rows = con.execute(
            f"""
            WITH r AS (SELECT sum(rev) OVER (ORDER BY rev, customer_id) AS cum,
                              row_number() OVER (ORDER BY rev, customer_id) AS i FROM _c),
                 tot AS (SELECT sum(rev) AS t, count(*) AS n FROM _c),
                 p AS (SELECT unnest(range(0, {LORENZ_POINTS + 1})) AS j)
            SELECT j, coalesce((SELECT cum FROM r WHERE i = floor(j * tot.n / {LORENZ_POINTS})), 0)
                      / nullif(tot.t, 0)
            FROM p, tot ORDER BY j"""
        ).fetchall()
        if all(v is not None for _, v in rows):
            out["lorenz_curve"] = {f"{j / LORENZ_POINTS:.2f}": float(v) for j, v in rows}


def _gaps(con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], _: Any) -> None:
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _g AS
        SELECT gap FROM (
          SELECT date_diff('day', lag(d) OVER (PARTITION BY customer_id ORDER BY txn_ts, txn_id), d) AS gap
          FROM _t WHERE customer_id IS NOT NULL) WHERE gap IS NOT NULL""")
    med, p90 = _one(con, "SELECT median(gap), quantile_cont(gap, 0.9) FROM _g")
    out["median_interpurchase_days"] = _num(med)
    out["p90_interpurchase_days"] = _num(p90)
    out["interpurchase_distribution"] = _distribution(con, "_g", "gap", GAP_BUCKETS)


def _baskets(con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], _: Any) -> None:
    mean, med, p90, items, items_med, small, lines = _one(
        con,
        """SELECT avg(amt), median(amt), quantile_cont(amt, 0.9), avg(n_items), median(n_items),
                  avg((n_items <= 2)::DOUBLE), avg(n_lines) FROM _t""",
    )
    out["transaction_value_mean"] = _num(mean)
    out["transaction_value_median"] = _num(med)
    out["transaction_value_p90"] = _num(p90)
    if ds.has_column("transactions", "n_items"):
        out["basket_size_mean"] = _num(items)
        out["basket_size_median"] = _num(items_med)
        out["basket_small_share"] = _num(small)
        out["basket_size_distribution"] = _distribution(con, "_t", "n_items", BASKET_BUCKETS)
    if ds.has_column("transactions", "n_lines"):
        out["lines_per_transaction_mean"] = _num(lines)


def _calendar(
    con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], period: tuple[dt.date, dt.date]
) -> None:
    wd = dict(con.execute("SELECT isodow(d), count(*) FROM _t GROUP BY 1").fetchall())
    total = sum(wd.values())
    if total:
        counts = [wd.get(i, 0) for i in range(1, 8)]
        out["weekday_profile"] = {WEEKDAYS[i]: counts[i] / total for i in range(7)}
        out["weekend_share"] = (counts[5] + counts[6]) / total
        out["weekly_shape"] = max(counts) / min(counts) if min(counts) else None
    start, end = period
    rows = con.execute(
        """
        WITH days AS (SELECT month(x::DATE) AS m, count(*) AS nd
                      FROM range(?::DATE, ?::DATE, INTERVAL 1 DAY) t(x) GROUP BY 1),
             tx AS (SELECT month(d) AS m, count(*) AS n FROM _t WHERE d >= ?::DATE AND d < ?::DATE GROUP BY 1)
        SELECT days.m, coalesce(tx.n, 0) / days.nd FROM days LEFT JOIN tx USING (m) ORDER BY days.m""",
        [start, end, start, end],
    ).fetchall()
    rates = {int(m): float(r) for m, r in rows}
    s = sum(rates.values())
    if s > 0:
        out["monthly_profile"] = {MONTHS[m - 1]: r / s for m, r in rates.items()}
        lo = min(rates.values())
        out["peak_trough_ratio"] = max(rates.values()) / lo if len(rates) >= 2 and lo > 0 else None
    out["december_lift"] = _num(
        _one(
            con,
            """
            WITH m AS (SELECT year(d) AS y, month(d) AS mo, sum(amt) AS rev FROM _t GROUP BY ALL),
                 y AS (SELECT y, sum(rev) FILTER (WHERE mo = 12) AS dec_rev, sum(rev) / 12 AS mean_rev
                       FROM m WHERE make_date(y, 1, 1) >= ?::DATE AND make_date(y, 12, 31) < ?::DATE
                       GROUP BY y)
            SELECT avg(dec_rev / nullif(mean_rev, 0)) FROM y""",
            [start, end],
        )[0]
    )


def _cohorts(
    con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], period: tuple[dt.date, dt.date]
) -> None:
    start, end = period
    rows = con.execute(
        f"""
        WITH coh AS (SELECT customer_id, date_trunc('month', signup_date)::DATE AS m0 FROM customers
                     WHERE signup_date >= ?::DATE AND signup_date < ?::DATE),
             sizes AS (SELECT m0, count(*) AS size FROM coh GROUP BY m0),
             ks AS (SELECT unnest(range(0, {RETENTION_MONTHS + 1})) AS k),
             elig AS (SELECT m0, size, k FROM sizes, ks WHERE (m0 + to_months(k + 1))::DATE <= ?::DATE),
             act AS (SELECT DISTINCT customer_id, date_trunc('month', d)::DATE AS m FROM _t
                     WHERE customer_id IS NOT NULL),
             hits AS (SELECT coh.m0, date_diff('month', coh.m0, act.m) AS k, count(*) AS a
                      FROM coh JOIN act USING (customer_id) WHERE act.m >= coh.m0 GROUP BY ALL)
        SELECT k, sum(coalesce(a, 0)) / sum(size) FROM elig LEFT JOIN hits USING (m0, k)
        GROUP BY k ORDER BY k""",
        [start, end, end],
    ).fetchall()
    curve = {int(k): float(v) for k, v in rows}
    for k in (1, 3, 6, 12):
        out[f"cohort_retention_{k}m"] = curve.get(k)
    out["cohort_retention_curve"] = {str(k): v for k, v in curve.items()} or None


def _lines(con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], _: Any) -> None:
    price = "unit_price" if ds.has_column("transaction_lines", "unit_price") else "NULL::DOUBLE"
    promo = (
        "avg((promotion_id IS NOT NULL)::DOUBLE)"
        if ds.has_column("transaction_lines", "promotion_id")
        else "NULL::DOUBLE"
    )
    mean, med, share = _one(con, f"SELECT avg({price}), median({price}), {promo} FROM transaction_lines")
    if ds.has_column("transaction_lines", "unit_price"):
        out["unit_price_mean"] = _num(mean)
        out["unit_price_median"] = _num(med)
    if ds.has_column("transaction_lines", "promotion_id"):
        out["promotion_share"] = _num(share)


def _assortment(con: duckdb.DuckDBPyConnection, ds: Dataset, out: dict[str, FactValue], _: Any) -> None:
    has_pl = ds.has_column("products", "is_private_label")
    has_dept = ds.has_column("products", "department")
    pl = "p.is_private_label" if has_pl else "NULL::BOOLEAN"
    dept = "p.department" if has_dept else "NULL::VARCHAR"
    rows = con.execute(
        f"""
        SELECT {dept} AS dept, {pl} AS pl, sum(l.line_amount) AS rev
        FROM transaction_lines l JOIN products p USING (product_id) GROUP BY ALL"""
    ).fetchall()
    total = sum(r[2] or 0.0 for r in rows)
    if not total:
        return
    if has_pl:
        out["private_label_share"] = sum(r[2] or 0.0 for r in rows if r[1]) / total
    if has_dept:
        by_dept: dict[str, float] = {}
        for d, _, rev in rows:  # one row per (department, private label): a few dozen rows
            if d is not None:
                by_dept[d] = by_dept.get(d, 0.0) + (rev or 0.0) / total
        if by_dept:
            out["category_shares"] = dict(sorted(by_dept.items(), key=lambda kv: -kv[1]))
            out["top_category_share"] = max(by_dept.values())


_GROUPS = {
    "counts": _counts,
    "customers": _customers,
    "gaps": _gaps,
    "baskets": _baskets,
    "calendar": _calendar,
    "cohorts": _cohorts,
    "lines": _lines,
    "assortment": _assortment,
}


def compute_facts(
    ds: Dataset,
    *,
    only: Iterable[str] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> FactReport:
    """Compute the stylised facts of ``ds`` in DuckDB.

    Parameters
    ----------
    ds
        An open dataset (generated or imported).
    only
        Fact ids to compute (their whole group is computed); default every fact.
    con
        A connection with the dataset's views (default: a new one from ``ds.connect()``, closed after).

    Returns
    -------
    FactReport
        Every fact of :data:`FACTS` (or of ``only``) with its value; ``None`` when the dataset cannot
        support it.
    """
    wanted = [FACT_INDEX[i] for i in only] if only is not None else list(FACTS)
    own = con is None
    con = con or ds.connect()
    try:
        period = observed_period(ds, con)
        report = FactReport(str(ds.path), ds.kind, period[0], period[1])
        values: dict[str, FactValue] = {}
        _prepare(con, ds)
        groups = [g for g in _GROUPS if any(f.group == g and available(ds, f) for f in wanted)]
        for g in groups:
            _GROUPS[g](con, ds, values, period)
        report.values = {f.id: values.get(f.id) if available(ds, f) else None for f in wanted}
        return report
    finally:
        if own:
            con.close()
        else:
            for t in ("_t", "_c", "_g"):
                con.execute(f"DROP TABLE IF EXISTS {t}")


def core_facts(ds: Dataset, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """The facts the demo summary prints (:data:`CORE_FACTS`), as ``{id: value}``."""
    return compute_facts(ds, only=CORE_FACT_IDS, con=con).values


# --------------------------------------------------------------------------------------------------------
# presentation
# --------------------------------------------------------------------------------------------------------


def format_value(fact: Fact, value: FactValue) -> str:
    """Short human-readable form of a scalar value (``n/a`` when not available)."""
    if value is None:
        return "n/a"
    if isinstance(value, dict):
        return f"{len(value)} values"
    if fact.unit == "count":
        return f"{int(value):,}"
    if fact.unit == "share":
        return f"{value:.1%}"
    if fact.unit == "money":
        return f"{value:,.2f}"
    return f"{value:,.2f}"


def facts_markdown() -> str:
    """The fact definitions as Markdown (the body of ``docs/facts.md``)."""
    from retailsim.fidelity.bands import BANDS

    out = [
        "# Stylised facts",
        "",
        "Generated from `src/retailsim/fidelity/facts.py` and `src/retailsim/fidelity/bands.py` by",
        "`python -m retailsim.fidelity.facts`; do not edit by hand. `retailsim facts DATASET` computes every",
        "fact below in DuckDB; `--check` compares them with the bands at the end.",
        "",
        "Conventions:",
        "",
        "- **observed period** `[start, end)`: the manifest's `horizon` — the simulated horizon of a generated",
        "  dataset; the first transaction date to the day after the last one for an imported log.",
        "- **customer**: a non-null `customer_id` with at least one transaction; anonymous transactions count",
        "  in transaction-level facts only.",
        "- **not available** (`null` in JSON, `n/a` on screen): the dataset lacks a table or column the fact",
        "  needs (column *needs* below; a column listed as absent in the manifest counts as missing). A fact",
        "  is never reported as 0 for lack of data.",
        "- Medians and percentiles interpolate linearly (DuckDB `median`, `quantile_cont`).",
        "",
        "| id | fact | unit | definition | needs |",
        "|---|---|---|---|---|",
    ]
    for f in FACTS:
        kind = " (distribution)" if f.kind == "distribution" else ""
        needs = ", ".join(f"`{n}`" for n in f.needs)
        out.append(f"| `{f.id}` | {f.label}{kind} | {f.unit} | {f.definition} | {needs} |")
    out += [
        "",
        "## Bands",
        "",
        "Target bands for the default behaviour (source: the project's `FIDELITY.md`, which cites the",
        "public studies and logs behind them). `retailsim facts DATASET --check` fails (exit code 1) when a",
        "fact is outside its band; a fact that is not available is reported and not checked. A calibrated",
        "twin is judged against its real log instead (`retailsim compare`).",
        "",
        "| FIDELITY.md row | fact id | band |",
        "|---|---|---|",
    ]
    for b in BANDS:
        hi = "∞" if b.hi is None else f"{b.hi:g}"
        out.append(f"| {b.name} | `{b.fact}` | {b.lo:g} – {hi} |")
    out += [
        "",
        "How FIDELITY.md's wording is read (where it leaves room):",
        "",
        '- *cohort retention "in its 3rd / 12th month"*: a transaction in the calendar month 3 (12) months',
        '  after the signup month, which is month 0 — the issue\'s "active after 1, 3, 6, 12 months". Cohorts',
        "  are pooled (customers summed over cohorts), and only cohorts whose month m₀ + k is wholly observed",
        "  count.",
        "- *days between consecutive transactions*: calendar days between the transactions' dates, so a log",
        "  with dates only and one with timestamps give the same gaps.",
        "- *purchases per active customer*: the band applies to the mean; the median is reported beside it.",
        "- *December lift*: only calendar years wholly inside the observed period count (not available",
        "  otherwise).",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates docs/facts.md
    print(facts_markdown(), end="")
