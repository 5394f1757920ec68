"""The one table specification of a retailsim dataset.

Every table is defined here once: columns, Arrow types, nullability, keys, foreign keys, allowed values,
ranges, patterns, units and a one-line description. Writers, data-quality contracts, DDL for DuckDB and
PostgreSQL, the generated data dictionary (``docs/schema.md``) and the dashboard's schema browser all read
this module; nothing restates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

STORE_FORMATS = ("hypermarket", "supermarket", "convenience", "online")
CHANNELS = ("in_store", "online", "mobile_app")
PAYMENT_METHODS = ("cash", "card", "mobile_wallet", "gift_card")
GENDERS = ("F", "M")
SIGNUP_CHANNELS = ("store", "online", "mobile_app", "referral")

EMAIL_PATTERN = r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"
PHONE_PATTERN = r"^[0-9+()\-. ]{7,20}$"
SKU_PATTERN = r"^SKU-[0-9]{6}$"

MONEY = "currency units"


@dataclass(frozen=True)
class Column:
    """One column: its Arrow type and every constraint a contract needs."""

    name: str
    type: pa.DataType
    description: str
    nullable: bool = False
    unit: str | None = None
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    unique: bool = False
    # Parquet dictionary encoding; off for continuous measurements (and always for unique columns), whose
    # values rarely repeat: a dictionary there is wasted work and bytes
    dictionary: bool = True
    # Parquet encoding in place of the dictionary: DELTA_BINARY_PACKED for integer keys and timestamps stored
    # in order (a few bits a row, where a dictionary hashes every value and plain + zstd keeps ~2 bytes)
    encoding: Literal["DELTA_BINARY_PACKED"] | None = None


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of this table reference ``ref_columns`` of ``ref_table``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """A table: its columns, keys and how it is laid out on disk."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    partition_by_month: str | None = None  # timestamp column whose month names the partition folder
    truth: bool = False  # ground truth of the simulation, written under truth/
    optional: bool = False  # may be absent (e.g. in an imported real log)
    derived: str | None = None  # computed later by a capability into this sub-folder (e.g. "loyalty")
    column_index: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_index", {c.name: c for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return self.column_index[name]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    def dictionary_columns(self) -> list[str]:
        """Columns written with a Parquet dictionary: all but unique ones, continuous measurements and those with
        their own :attr:`Column.encoding`."""
        return [c.name for c in self.columns if c.dictionary and not c.unique and c.encoding is None]

    def statistics_columns(self) -> list[str]:
        """Columns with Parquet statistics (min, max, null count): all but floating-point measurements, whose
        ranges span every file and let a reader skip nothing."""
        return [c.name for c in self.columns if not _is_floating(c.type)]

    def column_encodings(self) -> dict[str, str]:
        """Columns written with their own Parquet encoding (see :attr:`Column.encoding`)."""
        return {c.name: c.encoding for c in self.columns if c.encoding is not None}


def _is_floating(t: pa.DataType) -> bool:
    return pa.types.is_floating(t) or (pa.types.is_list(t) and pa.types.is_floating(t.value_type))


def _c(name: str, type_: pa.DataType, description: str, **kw: object) -> Column:
    return Column(name, type_, description, **kw)  # type: ignore[arg-type]


STORES = TableSpec(
    name="stores",
    description="Physical stores and the online shop.",
    primary_key=("store_id",),
    columns=(
        _c("store_id", pa.int32(), "Store key.", unique=True, min=1),
        _c("store_name", pa.string(), "Display name."),
        _c("format", pa.string(), "Store format.", allowed=STORE_FORMATS),
        _c("city", pa.string(), "City the store is in (the head office city for online)."),
        _c("region", pa.string(), "Region (state, county, Land) of the city."),
        _c("country", pa.string(), "Country."),
        _c(
            "latitude",
            pa.float64(),
            "Latitude; null for online.",
            nullable=True,
            unit="degrees",
            min=-90,
            max=90,
        ),
        _c(
            "longitude",
            pa.float64(),
            "Longitude; null for online.",
            nullable=True,
            unit="degrees",
            min=-180,
            max=180,
        ),
        _c(
            "size_sqm",
            pa.int32(),
            "Sales floor area; null for online.",
            nullable=True,
            unit="m²",
            min=20,
            max=30000,
        ),
        _c("opened_date", pa.date32(), "Date the store opened."),
    ),
)

PRODUCTS = TableSpec(
    name="products",
    description="The assortment: one row per SKU.",
    primary_key=("product_id",),
    columns=(
        _c("product_id", pa.int32(), "Product key.", unique=True, min=1),
        _c("sku", pa.string(), "Stock keeping unit code.", unique=True, pattern=SKU_PATTERN),
        _c("product_name", pa.string(), "Display name."),
        _c("department", pa.string(), "Top level of the hierarchy."),
        _c("category", pa.string(), "Second level of the hierarchy."),
        _c("subcategory", pa.string(), "Third level of the hierarchy."),
        _c("brand", pa.string(), "Brand."),
        _c("is_private_label", pa.bool_(), "True for the retailer's own brand."),
        _c("unit_cost", pa.float64(), "Purchase cost per unit.", unit=MONEY, min=0.01, max=5000),
        _c("list_price", pa.float64(), "Shelf price per unit.", unit=MONEY, min=0.01, max=5000),
        _c("launch_date", pa.date32(), "First day the product could be sold."),
    ),
)

CUSTOMERS = TableSpec(
    name="customers",
    description="Loyalty-card holders.",
    primary_key=("customer_id",),
    foreign_keys=(ForeignKey(("home_store_id",), "stores", ("store_id",)),),
    columns=(
        _c("customer_id", pa.int64(), "Customer key.", unique=True, min=1),
        _c("external_id", pa.string(), "Identifier in the source system (imported logs).", nullable=True),
        _c("first_name", pa.string(), "Given name.", nullable=True),
        _c("last_name", pa.string(), "Family name.", nullable=True),
        _c("gender", pa.string(), "Gender as recorded at signup.", nullable=True, allowed=GENDERS),
        _c("birth_date", pa.date32(), "Date of birth.", nullable=True),
        _c("email", pa.string(), "E-mail address.", nullable=True, pattern=EMAIL_PATTERN, dictionary=False),
        _c("phone", pa.string(), "Phone number.", nullable=True, pattern=PHONE_PATTERN, dictionary=False),
        _c("street_address", pa.string(), "Street and number.", nullable=True, dictionary=False),
        _c("city", pa.string(), "Home city.", nullable=True),
        _c("region", pa.string(), "Region of the home city.", nullable=True),
        _c("country", pa.string(), "Country.", nullable=True),
        _c("signup_date", pa.date32(), "Date the customer joined the loyalty programme."),
        _c(
            "signup_channel",
            pa.string(),
            "Where the customer signed up.",
            nullable=True,
            allowed=SIGNUP_CHANNELS,
        ),
        _c("home_store_id", pa.int32(), "The store the customer mostly shops at.", nullable=True),
        _c("marketing_opt_in", pa.bool_(), "Consented to marketing.", nullable=True),
    ),
)

PROMOTIONS = TableSpec(
    name="promotions",
    description="Price promotions: what (product), where (all stores or one store), when, how much.",
    primary_key=("promotion_id",),
    optional=True,
    foreign_keys=(
        ForeignKey(("product_id",), "products", ("product_id",)),
        ForeignKey(("store_id",), "stores", ("store_id",)),
    ),
    columns=(
        _c("promotion_id", pa.int32(), "Promotion key.", unique=True, min=1),
        _c("product_id", pa.int32(), "Promoted product."),
        _c("store_id", pa.int32(), "Store the promotion runs in; null = every store.", nullable=True),
        _c("promo_type", pa.string(), "Mechanic.", allowed=("price_cut", "web_exclusive")),
        _c("start_date", pa.date32(), "First day (inclusive)."),
        _c("end_date", pa.date32(), "Last day (inclusive)."),
        _c("discount_pct", pa.float64(), "Discount off list price.", unit="fraction", min=0.01, max=0.8),
    ),
)

TRANSACTIONS = TableSpec(
    name="transactions",
    description="Transaction headers: one row per basket. Partitioned by month of txn_ts.",
    primary_key=("txn_id",),
    partition_by_month="txn_ts",
    foreign_keys=(
        ForeignKey(("customer_id",), "customers", ("customer_id",)),
        ForeignKey(("store_id",), "stores", ("store_id",)),
    ),
    columns=(
        _c("txn_id", pa.int64(), "Transaction key.", unique=True, min=1, encoding="DELTA_BINARY_PACKED"),
        _c("customer_id", pa.int64(), "Card holder; null for anonymous shoppers.", nullable=True),
        _c("store_id", pa.int32(), "Store of the purchase."),
        _c(
            "txn_ts",
            pa.timestamp("ms"),
            "Local date and time of the purchase.",
            encoding="DELTA_BINARY_PACKED",
        ),
        _c("channel", pa.string(), "Sales channel.", allowed=CHANNELS),
        _c("payment_method", pa.string(), "Payment method.", nullable=True, allowed=PAYMENT_METHODS),
        _c("n_lines", pa.int32(), "Number of line items.", min=1, max=500),
        _c("n_items", pa.int32(), "Units bought (quantities summed).", min=1, max=25000),
        _c(
            "gross_amount", pa.float64(), "Sum of quantity × unit price.", unit=MONEY, min=0, dictionary=False
        ),
        _c("discount_amount", pa.float64(), "Sum of line discounts.", unit=MONEY, min=0),
        _c(
            "total_amount",
            pa.float64(),
            "Amount paid: gross − discount.",
            unit=MONEY,
            min=0,
            dictionary=False,
        ),
    ),
)

TRANSACTION_LINES = TableSpec(
    name="transaction_lines",
    description="Line items of each transaction. Partitioned like their header.",
    primary_key=("txn_id", "line_no"),
    partition_by_month="txn_ts",
    foreign_keys=(
        ForeignKey(("txn_id",), "transactions", ("txn_id",)),
        ForeignKey(("product_id",), "products", ("product_id",)),
        ForeignKey(("promotion_id",), "promotions", ("promotion_id",)),
    ),
    columns=(
        _c("txn_id", pa.int64(), "Transaction the line belongs to.", encoding="DELTA_BINARY_PACKED"),
        _c("line_no", pa.int32(), "Position in the basket, from 1.", min=1),
        _c("product_id", pa.int32(), "Product bought.", nullable=True),
        _c("quantity", pa.int32(), "Units.", min=1, max=50),
        _c("unit_price", pa.float64(), "Price per unit before discount.", unit=MONEY, min=0.01, max=5000),
        _c("discount_pct", pa.float64(), "Promotion discount.", unit="fraction", min=0, max=0.8),
        _c("discount_amount", pa.float64(), "Discount in money.", unit=MONEY, min=0),
        _c("promotion_id", pa.int32(), "Promotion applied; null when none.", nullable=True),
        _c("line_amount", pa.float64(), "Amount paid for the line.", unit=MONEY, min=0),
    ),
)

CUSTOMER_TRUTH = TableSpec(
    name="customer_truth",
    description="Ground truth: each customer's latent traits and true churn time.",
    primary_key=("customer_id",),
    truth=True,
    foreign_keys=(ForeignKey(("customer_id",), "customers", ("customer_id",)),),
    columns=(
        _c("customer_id", pa.int64(), "Customer key.", dictionary=False),
        _c(
            "purchase_rate",
            pa.float64(),
            "Visits per day while active, before seasonality.",
            unit="1/day",
            dictionary=False,
        ),
        _c(
            "dropout_rate",
            pa.float64(),
            "Hazard of churning per day (exponential lifetime).",
            unit="1/day",
            dictionary=False,
        ),
        _c(
            "active_from",
            pa.float64(),
            "Start of activity in days since horizon start (may be < 0).",
            dictionary=False,
        ),
        _c(
            "churn_time",
            pa.float64(),
            "True churn time in days since horizon start (may exceed it).",
            dictionary=False,
        ),
        _c("churn_date", pa.date32(), "Calendar date of churn_time."),
        _c(
            "basket_lines_mean",
            pa.float64(),
            "Mean extra lines per basket at a supermarket.",
            dictionary=False,
        ),
        _c(
            "habit",
            pa.float64(),
            "Probability a line is one of the customer's favourites.",
            min=0,
            max=1,
            dictionary=False,
        ),
        _c(
            "promo_sensitivity",
            pa.float64(),
            "Probability a line is a promoted product.",
            min=0,
            max=1,
            dictionary=False,
        ),
        _c(
            "private_label_affinity",
            pa.float64(),
            "Probability of switching to own brand.",
            min=0,
            max=1,
            dictionary=False,
        ),
        _c("online_share", pa.float64(), "Probability a visit is online.", min=0, max=1, dictionary=False),
        _c("favourites", pa.list_(pa.int32()), "The customer's habitual products."),
        _c(
            "department_pref",
            pa.list_(pa.float32()),
            "Preference over departments, sorted by name (sums to 1).",
            dictionary=False,
        ),
    ),
)

CALENDAR_TRUTH = TableSpec(
    name="calendar",
    description="Ground truth: relative shopping intensity of each day of the horizon.",
    primary_key=("date",),
    truth=True,
    columns=(
        _c("date", pa.date32(), "Day."),
        _c("intensity", pa.float64(), "Multiplier of every customer's purchase rate on that day."),
    ),
)

LOYALTY_CHANGES = ("enrol", "upgrade", "downgrade")
LOYALTY_MODES = ("threshold", "rank")

TIER_HISTORY = TableSpec(
    name="tier_history",
    description=(
        "Loyalty tier of each customer over time, a slowly changing dimension written by "
        "`retailsim loyalty assign|replay` to loyalty/tier_history.parquet: one row per tier spell, no gaps "
        "or overlaps per customer. Tier names come from the loyalty config (default Bronze, Silver, Gold, "
        "Platinum)."
    ),
    primary_key=("customer_id", "valid_from"),
    optional=True,
    derived="loyalty",
    foreign_keys=(ForeignKey(("customer_id",), "customers", ("customer_id",)),),
    columns=(
        _c("customer_id", pa.int64(), "Customer key."),
        _c("tier", pa.string(), "Tier held during the spell."),
        _c("tier_rank", pa.int32(), "Rank of the tier: 0 = base tier, higher = better.", min=0),
        _c(
            "valid_from", pa.date32(), "First day the tier holds (inclusive; a review date or enrolment day)."
        ),
        _c(
            "valid_to",
            pa.date32(),
            "First day it no longer holds (exclusive); null = current.",
            nullable=True,
        ),
        _c("change", pa.string(), "What started the spell.", allowed=LOYALTY_CHANGES),
        _c(
            "review_date",
            pa.date32(),
            "Review that decided the spell (it sees every transaction up to and including this day); "
            "null for an enrolment at the base tier between reviews.",
            nullable=True,
        ),
        _c("mode", pa.string(), "Rule mode of the programme.", allowed=LOYALTY_MODES),
        _c(
            "window_spend",
            pa.float64(),
            "Reason: net spend in the rolling window ending at the review.",
            nullable=True,
            unit=MONEY,
        ),
        _c("window_visits", pa.int32(), "Reason: visits in the rolling window.", nullable=True, min=0),
        _c(
            "avg_monthly_spend",
            pa.float64(),
            "Reason: window spend per month of membership in the window (what rank mode ranks).",
            nullable=True,
            unit=MONEY,
        ),
        _c(
            "rank_share_above",
            pa.float64(),
            "Reason (rank mode): share of customers with a higher average monthly spend.",
            nullable=True,
            unit="fraction",
            min=0,
            max=1,
        ),
        _c(
            "qualified_tier",
            pa.string(),
            "Tier the metrics alone qualified for at the review.",
            nullable=True,
        ),
        _c(
            "below_since",
            pa.date32(),
            "Downgrades: first review at which the customer no longer qualified for the tier held before.",
            nullable=True,
        ),
        _c("reason", pa.string(), "Why, in words: the rule and the metric values that decided the spell."),
    ),
)

DEFECT_KINDS = (
    "missing_required",
    "invalid_email",
    "invalid_phone",
    "invalid_sku",
    "invalid_category",
    "bad_quantity",
    "bad_price",
    "bad_discount",
    "bad_age",
    "orphan_key",
    "duplicate_row",
    "duplicate_transaction",
    "future_timestamp",
    "future_date",
    "before_signup",
    "before_store_opening",
    "before_product_launch",
    "promotion_out_of_window",
    "totals_mismatch",
    "discount_above_price",
    "cost_above_price",
    "city_region_mismatch",
    "encoding_damage",
    "unparseable_cell",
)

DEFECTS_TRUTH = TableSpec(
    name="defects",
    description=(
        "Ground truth of `generate --defects`: one row per damaged or added row, written to "
        "truth/defects.parquet (absent from clean datasets)."
    ),
    primary_key=("table_name", "row_key"),
    truth=True,
    optional=True,
    columns=(
        _c("table_name", pa.string(), "Table of the damaged row."),
        _c("row_key", pa.string(), "Its primary key as text, parts joined by `|` (e.g. `10000000007|3`)."),
        _c(
            "column", pa.string(), "The damaged column; null when the whole row is the defect.", nullable=True
        ),
        _c("kind", pa.string(), "What was done to it.", allowed=DEFECT_KINDS),
        _c("detail", pa.string(), "Before → after, in words.", nullable=True),
        _c("file", pa.string(), "File holding the row, relative to the dataset folder."),
    ),
)

DATA_TABLES: tuple[TableSpec, ...] = (
    STORES,
    PRODUCTS,
    CUSTOMERS,
    PROMOTIONS,
    TRANSACTIONS,
    TRANSACTION_LINES,
)
TRUTH_TABLES: tuple[TableSpec, ...] = (CUSTOMER_TRUTH, CALENDAR_TRUTH)
DERIVED_TABLES: tuple[TableSpec, ...] = (TIER_HISTORY,)  # written after generation, never by `generate`
OPTIONAL_TRUTH_TABLES: tuple[TableSpec, ...] = (DEFECTS_TRUTH,)  # written only by `generate --defects`
TABLES: dict[str, TableSpec] = {
    t.name: t for t in (*DATA_TABLES, *TRUTH_TABLES, *OPTIONAL_TRUTH_TABLES, *DERIVED_TABLES)
}


def table(name: str) -> TableSpec:
    """Return the spec of table ``name``; raise a clear ``KeyError`` naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None


def to_duckdb_type(t: pa.DataType) -> str:
    """DuckDB (and PostgreSQL-compatible) SQL type of an Arrow type."""
    if pa.types.is_list(t):
        return f"{to_duckdb_type(t.value_type)}[]"
    mapping = {
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float32(): "REAL",
        pa.float64(): "DOUBLE",
        pa.string(): "VARCHAR",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
        pa.timestamp("ms"): "TIMESTAMP",
    }
    return mapping[t]


def to_ddl(spec: TableSpec, *, with_keys: bool = True) -> str:
    """``CREATE TABLE`` statement for ``spec`` (DuckDB dialect)."""
    cols = [f'"{c.name}" {to_duckdb_type(c.type)}{"" if c.nullable else " NOT NULL"}' for c in spec.columns]
    if with_keys and spec.primary_key:
        cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in spec.primary_key) + ")")
    return f'CREATE TABLE "{spec.name}" (\n  ' + ",\n  ".join(cols) + "\n)"


def to_markdown() -> str:
    """The data dictionary as Markdown (``docs/schema.md`` and ``retailsim schema --markdown``)."""
    out = [
        "# retailsim data dictionary",
        "",
        "Generated from `src/retailsim/schema.py` by `retailsim schema --markdown`; do not edit by hand.",
        "",
    ]
    for spec in TABLES.values():
        where = "truth/" if spec.truth else (f"{spec.derived}/" if spec.derived else "")
        out += [f"## `{where}{spec.name}`", "", spec.description, ""]
        out.append(f"Primary key: `{', '.join(spec.primary_key)}`.")
        for fk in spec.foreign_keys:
            out.append(
                f"Foreign key: `{', '.join(fk.columns)}` → `{fk.ref_table}.{', '.join(fk.ref_columns)}`."
            )
        if spec.partition_by_month:
            out.append(f"Partitioned by month of `{spec.partition_by_month}` (`month=YYYY-MM/` folders).")
        out += [
            "",
            "| column | type | null | constraints | unit | description |",
            "|---|---|---|---|---|---|",
        ]
        for c in spec.columns:
            out.append(
                f"| `{c.name}` | {to_duckdb_type(c.type)} | {'yes' if c.nullable else 'no'} | "
                f"{constraint_text(c)} | {c.unit or ''} | {c.description} |"
            )
        out.append("")
    return "\n".join(out)


def constraint_text(c: Column) -> str:
    """Human-readable summary of a column's constraints."""
    parts: list[str] = []
    if c.unique:
        parts.append("unique")
    if c.allowed:
        parts.append("one of " + ", ".join(c.allowed))
    if c.min is not None or c.max is not None:
        lo = "" if c.min is None else f"{c.min:g} ≤ "
        hi = "" if c.max is None else f" ≤ {c.max:g}"
        parts.append(f"{lo}value{hi}")
    if c.pattern:
        parts.append(f"matches `{c.pattern}`".replace("|", "\\|"))
    return "; ".join(parts)
