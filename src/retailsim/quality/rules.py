"""The rule registry: every check is data (id, table, severity, description, SQL predicate).

Rules come from three places and share one list, used by the engine, the reports, the dashboard and users:

* **contract** rules generated from :mod:`retailsim.schema` (never restated): required columns, allowed values,
  numeric ranges (the schema's, or :class:`~retailsim.quality.config.QualityConfig` ``ranges``), patterns,
  unique keys and foreign keys;
* **relational** rules written here once: time order across tables, header totals against their lines,
  promotions, duplicate transactions, future dates, ages, cost above price, cities in their region, text
  encoding;
* **user** rules from a YAML file of SQL predicates (:func:`load_user_rules`).

A rule's ``sql`` is a DuckDB boolean expression that is TRUE for a *failing* row. It reads the columns of its
table unqualified and, through *lookups*, attributes of related rows as ``<lookup>__<column>``:

========================  ==========================================================================
lookup                    columns
========================  ==========================================================================
one per foreign key,      ``<alias>__found`` (TRUE when the referenced row exists) and
named after the column    ``<alias>__<column>`` for any column of the referenced table; the alias is
without ``_id``           the column without ``_id``: ``txn``, ``product``, ``promotion``,
                          ``customer``, ``store``, ``home_store``
``lines``                 transactions only: ``lines__n``, ``lines__items``, ``lines__discount``,
                          ``lines__amount`` (count and sums of the transaction's lines) and
                          ``lines__dupkeys`` (its lines repeat a line number)
``refcity``               customers and stores: ``refcity__regions``, the regions the reference
                          knows for the row's (country, city), NULL when the city is unknown
========================  ==========================================================================

Predicates are evaluated as ``coalesce(sql, FALSE)``: a rule whose inputs are NULL does not fire (the
not-null rule of that column reports the NULL).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from retailsim import schema
from retailsim.errors import ConfigError
from retailsim.quality.config import QualityConfig
from retailsim.settings_files import read_yaml

if TYPE_CHECKING:
    from retailsim.config import SimConfig
    from retailsim.storage.dataset import Dataset

Severity = Literal["error", "warning"]
Category = Literal["contract", "relational", "parse", "user"]
SEVERITIES: tuple[str, ...] = ("error", "warning")

#: Characters that never occur in clean text: U+FFFD (a decoder gave up), control characters, and the
#: first two bytes of a UTF-8 sequence read as Latin-1 ("Ã©" for "é").
ENCODING_DAMAGE_RX = (
    r"[\x{FFFD}\x{0000}-\x{0008}\x{000B}\x{000C}\x{000E}-\x{001F}\x{007F}-\x{009F}]|[ÃÂ][\x{0080}-\x{00BF}]"
)
MONEY_EPS = 1e-6  # float noise allowed on top of the money tolerance


@dataclass(frozen=True)
class Rule:
    """One check.

    Attributes
    ----------
    id
        Stable identifier, ``<table>.<subject>.<check>`` (user rules: as written in their file).
    table
        Table whose rows the rule judges (a failing row is a row of this table).
    severity
        ``error`` (exit code 1, row quarantined) or ``warning`` (reported only).
    description
        One sentence for people.
    sql
        DuckDB predicate, TRUE for a failing row (see the module docstring for what it may read).
    category
        ``contract`` (from the schema), ``relational`` (across rows or tables), ``parse`` (CSV cells),
        ``user``.
    columns
        ``table.column`` names the rule reads; it is skipped when one is absent (imported logs).
    tables
        Tables it needs; it is skipped when one is missing from the dataset.
    detail
        DuckDB VARCHAR expression describing the offending values of a failing row.
    lookups
        Related relations joined in to evaluate it (see the module docstring).
    source
        ``schema``, ``builtin`` or the user rules file.
    witness
        For a line rule reading its transaction (``txn__…``): a predicate over the *transaction* (its columns
        and ``lines__…`` aggregates) that is TRUE whenever one of its lines may fail the rule. It lets the
        engine check lines without joining every line to its header (see ``docs/quality.md``).
    """

    id: str
    table: str
    severity: Severity
    description: str
    sql: str
    category: Category
    columns: tuple[str, ...]
    tables: tuple[str, ...]
    detail: str
    lookups: tuple[str, ...] = ()
    source: str = "builtin"
    witness: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the shape of ``rules[]`` in the JSON report, minus results)."""
        d = asdict(self)
        d["columns"], d["tables"], d["lookups"] = list(self.columns), list(self.tables), list(self.lookups)
        return d


# --------------------------------------------------------------------------------------------------------
# SQL helpers
# --------------------------------------------------------------------------------------------------------


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """SQL literal of a Python value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def num(value: float, integer: bool = False) -> str:
    """Numeric literal; integral values compared with integer columns stay integers (no DECIMAL casts)."""
    if integer and float(value).is_integer():
        return str(int(value))
    return f"CAST({float(value)!r} AS DOUBLE)"


def show(*columns: str) -> str:
    """Detail expression ``a=…, b=…`` for columns (or ``name=expression`` pairs given as ``name:expr``)."""
    parts = []
    for c in columns:
        name, _, expr = c.partition(":")
        expr = expr or q(name)
        parts.append(f"'{name}=' || coalesce(CAST({expr} AS VARCHAR), 'NULL')")
    return " || ', ' || ".join(parts) if parts else "''"


def fk_alias(fk: schema.ForeignKey) -> str:
    """Lookup alias of a foreign key: its (first) column without ``_id``."""
    col = fk.columns[0]
    return col[:-3] if col.endswith("_id") else col


def _refs(table: str, *columns: str) -> tuple[str, ...]:
    return tuple(f"{table}.{c}" for c in columns)


def text_columns(spec: schema.TableSpec) -> list[str]:
    """Free-text string columns (no allowed values or pattern to constrain them)."""
    return [
        c.name
        for c in spec.columns
        if pa.types.is_string(c.type) and not c.allowed and not c.pattern and c.name not in spec.primary_key
    ]


def has_city(spec: schema.TableSpec) -> bool:
    return {"country", "city", "region"} <= set(spec.column_index)


# --------------------------------------------------------------------------------------------------------
# as-of date
# --------------------------------------------------------------------------------------------------------


def resolve_as_of(source: Dataset | SimConfig | None, config: QualityConfig) -> dt.datetime:
    """The moment after which dates are "in the future".

    The quality config's ``as_of`` if set; else the horizon end of a generated config or a dataset's
    manifest (generated and imported datasets both record one); else now (UTC, whole seconds).
    """
    if config.as_of is not None:
        return config.as_of.replace(tzinfo=None)
    from retailsim.config import SimConfig
    from retailsim.storage.dataset import Dataset

    if isinstance(source, SimConfig):
        return dt.datetime.combine(source.horizon.end, dt.time())
    if isinstance(source, Dataset):
        horizon = source.manifest.get("horizon") or {}
        if horizon.get("end"):
            return dt.datetime.combine(dt.date.fromisoformat(horizon["end"]), dt.time())
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# --------------------------------------------------------------------------------------------------------
# contract rules from the schema
# --------------------------------------------------------------------------------------------------------


def contract_rules(spec: schema.TableSpec, config: QualityConfig) -> list[Rule]:
    """Rules generated from one table's specification."""
    t = spec.name
    rules: list[Rule] = []

    def add(rid: str, description: str, sql: str, cols: Iterable[str], detail: str, **kw: Any) -> None:
        rules.append(
            Rule(
                id=rid,
                table=t,
                severity=kw.pop("severity", "error"),
                description=description,
                sql=sql,
                category=kw.pop("category", "contract"),
                columns=_refs(t, *cols),
                tables=kw.pop("tables", (t,)),
                detail=detail,
                source="schema",
                **kw,
            )
        )

    for c in spec.columns:
        n = q(c.name)
        if not c.nullable:
            add(
                f"{t}.{c.name}.not_null",
                f"{c.name} is required.",
                f"{n} IS NULL",
                [c.name],
                f"'{c.name} is NULL'",
            )
        if c.allowed:
            values = ", ".join(lit(v) for v in c.allowed)
            add(
                f"{t}.{c.name}.allowed",
                f"{c.name} is one of {', '.join(c.allowed)}.",
                f"{n} NOT IN ({values})",
                [c.name],
                show(c.name),
            )
        if pa.types.is_integer(c.type) or pa.types.is_floating(c.type):
            bound, origin = config.bound(t, c.name)
            if bound is not None:
                checks = []
                integer = pa.types.is_integer(c.type)
                if bound.min is not None:
                    checks.append(f"{n} {'<=' if bound.min_exclusive else '<'} {num(bound.min, integer)}")
                if bound.max is not None:
                    checks.append(f"{n} > {num(bound.max, integer)}")
                add(
                    f"{t}.{c.name}.range",
                    f"{c.name} is in {bound.text()} ({'quality config' if origin == 'config' else 'schema'}).",
                    " OR ".join(checks),
                    [c.name],
                    show(c.name),
                )
        if c.pattern:
            add(
                f"{t}.{c.name}.pattern",
                f"{c.name} matches {c.pattern}.",
                f"NOT regexp_matches({n}, {lit(c.pattern)})",
                [c.name],
                show(c.name),
            )
        if c.unique and (c.name,) != spec.primary_key:
            add(
                f"{t}.{c.name}.unique",
                f"{c.name} is unique.",
                f"dup_{c.name}__copies IS NOT NULL",
                [c.name],
                show(c.name) + f" || ' appears ' || dup_{c.name}__copies || ' times'",
                lookups=(f"dup_{c.name}",),
            )
    if spec.primary_key:
        keys = ", ".join(spec.primary_key)
        add(
            f"{t}.pk.unique",
            f"The key ({keys}) identifies one row (also across files).",
            "pk__copies IS NOT NULL",
            spec.primary_key,
            show(*spec.primary_key)
            + " || ' appears ' || pk__copies || ' times in ' || array_to_string(pk__files, ', ')",
            lookups=("pk",),
        )
    for fk in spec.foreign_keys:
        alias = fk_alias(fk)
        cols = " AND ".join(f"{q(c)} IS NOT NULL" for c in fk.columns)
        add(
            f"{t}.{fk.columns[0]}.fk",
            f"{', '.join(fk.columns)} refers to an existing {fk.ref_table} row.",
            f"{cols} AND {alias}__found IS NULL",
            fk.columns,
            show(*fk.columns) + f" || ' not in {fk.ref_table}'",
            category="relational",
            tables=(t, fk.ref_table),
            lookups=(alias,),
        )
    return rules


def parse_rule(spec: schema.TableSpec) -> Rule:
    """Every cell of a CSV table parses as its schema type (reported with file, row and column)."""
    return Rule(
        id=f"{spec.name}.cells.parse",
        table=spec.name,
        severity="error",
        description="Every cell parses as its schema type (CSV datasets).",
        sql="len(__unparsed) > 0",
        category="parse",
        columns=(),
        tables=(spec.name,),
        detail="__unparsed_detail",
        source="schema",
    )


# --------------------------------------------------------------------------------------------------------
# relational rules
# --------------------------------------------------------------------------------------------------------


def relational_rules(config: QualityConfig, as_of: dt.datetime) -> list[Rule]:
    """The rules across rows and tables, with the limits of ``config`` and the as-of moment."""
    tol = num(config.money_tolerance + MONEY_EPS)
    now = lit(as_of)
    age = config.age
    rules: list[Rule] = []

    def add(
        rid: str,
        table: str,
        description: str,
        sql: str,
        columns: Sequence[str],
        detail: str,
        *,
        severity: Severity = "error",
        lookups: tuple[str, ...] = (),
        tables: tuple[str, ...] = (),
        witness: str | None = None,
    ) -> None:
        rules.append(
            Rule(
                id=rid,
                table=table,
                severity=severity,
                description=description,
                sql=sql,
                category="relational",
                columns=tuple(columns),
                tables=(table, *tables),
                detail=detail,
                lookups=lookups,
                witness=witness,
            )
        )

    # ---- customers
    age_expr = f"date_sub('year', birth_date, CAST({now} AS DATE))"
    checks = []
    if age.min is not None:
        checks.append(f"{age_expr} {'<=' if age.min_exclusive else '<'} {num(age.min, True)}")
    if age.max is not None:
        checks.append(f"{age_expr} > {num(age.max, True)}")
    if checks:
        add(
            "customers.age.range",
            "customers",
            f"Age at the as-of date ({as_of:%Y-%m-%d}) is in {age.text()} years.",
            " OR ".join(checks),
            ["customers.birth_date"],
            show("birth_date", f"age:{age_expr}"),
        )
    if age.min is not None:
        add(
            "customers.age.at_signup",
            "customers",
            f"The customer was at least {age.min:g} at signup.",
            f"date_sub('year', birth_date, signup_date) < {num(age.min, True)}",
            ["customers.birth_date", "customers.signup_date"],
            show("birth_date", "signup_date"),
        )
    for table, col in (("customers", "signup_date"), ("stores", "opened_date")):
        add(
            f"{table}.{col}.not_future",
            table,
            f"{col} is before the as-of moment ({as_of:%Y-%m-%d %H:%M}).",
            f"CAST({col} AS TIMESTAMP) >= {now}",
            [f"{table}.{col}"],
            show(col),
        )
    for table in ("customers", "stores"):
        add(
            f"{table}.region.matches_city",
            table,
            "A city the reference knows lies in the region recorded with it.",
            "region IS NOT NULL AND refcity__regions IS NOT NULL AND NOT list_contains(refcity__regions, region)",
            [f"{table}.country", f"{table}.city", f"{table}.region"],
            show("city", "region") + " || ' (reference: ' || array_to_string(refcity__regions, ', ') || ')'",
            severity="warning",
            lookups=("refcity",),
        )
    for spec in schema.DATA_TABLES:
        cols = text_columns(spec)
        if not cols:
            continue
        values = "[" + ", ".join(q(c) for c in cols) + "]"
        rx = lit(ENCODING_DAMAGE_RX)
        add(
            f"{spec.name}.text.encoding",
            spec.name,
            "Text holds no encoding damage (U+FFFD, control characters, UTF-8 read as Latin-1).",
            f"regexp_matches(concat_ws(' ', {', '.join(q(c) for c in cols)}), {rx})",
            [f"{spec.name}.{c}" for c in cols],
            f"array_to_string([x FOR x IN {values} IF regexp_matches(x, {rx})], ', ')",
            severity="warning",
        )
    # ---- products
    add(
        "products.unit_cost.not_above_price",
        "products",
        "The purchase cost is not above the list price.",
        "unit_cost > list_price",
        ["products.unit_cost", "products.list_price"],
        show("unit_cost", "list_price"),
        severity="warning",
    )
    # ---- transactions
    add(
        "transactions.txn_ts.not_future",
        "transactions",
        f"The transaction is before the as-of moment ({as_of:%Y-%m-%d %H:%M}).",
        f"txn_ts >= {now}",
        ["transactions.txn_ts"],
        show("txn_ts"),
    )
    add(
        "transactions.after_signup",
        "transactions",
        "A card holder's transaction is not before the customer signed up.",
        "CAST(txn_ts AS DATE) < customer__signup_date",
        ["transactions.txn_ts", "customers.signup_date"],
        show("txn_ts", "signup_date:customer__signup_date"),
        lookups=("customer",),
        tables=("customers",),
    )
    add(
        "transactions.after_store_opening",
        "transactions",
        "A transaction is not before its store opened.",
        "CAST(txn_ts AS DATE) < store__opened_date",
        ["transactions.txn_ts", "stores.opened_date"],
        show("txn_ts", "opened_date:store__opened_date"),
        lookups=("store",),
        tables=("stores",),
    )
    add(
        "transactions.total_amount.arithmetic",
        "transactions",
        "total_amount = gross_amount − discount_amount (within the money tolerance).",
        f"abs(total_amount - (gross_amount - discount_amount)) > {tol}",
        ["transactions.total_amount", "transactions.gross_amount", "transactions.discount_amount"],
        show("gross_amount", "discount_amount", "total_amount"),
    )
    no_dup = "NOT coalesce(lines__dupkeys, FALSE) AND "
    line_sums = (
        ("n_lines", "lines__n", "the number of its lines", "transaction_lines.line_no", False),
        ("n_items", "lines__items", "the sum of its line quantities", "transaction_lines.quantity", False),
        (
            "discount_amount",
            "lines__discount",
            "the sum of its line discounts",
            "transaction_lines.discount_amount",
            True,
        ),
        (
            "total_amount",
            "lines__amount",
            "the sum of its line amounts",
            "transaction_lines.line_amount",
            True,
        ),
    )
    for col, agg, what, line_col, money in line_sums:
        cmp = f"abs({col} - coalesce({agg}, 0)) > {tol}" if money else f"{col} <> coalesce({agg}, 0)"
        add(
            f"transactions.{col}.matches_lines",
            "transactions",
            f"{col} equals {what}{' (within the money tolerance)' if money else ''}.",
            no_dup + cmp,
            [f"transactions.{col}", line_col],
            show(col, f"lines:coalesce({agg}, 0)"),
            lookups=("lines",),
            tables=("transaction_lines",),
        )
    add(
        "transactions.duplicate",
        "transactions",
        "No transaction repeats an earlier one (same customer, store, time and lines, another txn_id).",
        "dupcontent__first IS NOT NULL",
        [
            "transactions.customer_id",
            "transactions.store_id",
            "transactions.txn_ts",
            "transaction_lines.product_id",
            "transaction_lines.quantity",
            "transaction_lines.unit_price",
        ],
        show("txn_id", "same_as:dupcontent__first"),
        lookups=("dupcontent",),
        tables=("transaction_lines",),
    )
    # ---- transaction lines
    add(
        "transaction_lines.after_product_launch",
        "transaction_lines",
        "A product is not sold before its launch date.",
        "CAST(txn__txn_ts AS DATE) < product__launch_date",
        ["transactions.txn_ts", "products.launch_date", "transaction_lines.product_id"],
        show("product_id", "txn_ts:txn__txn_ts", "launch_date:product__launch_date"),
        lookups=("txn", "product"),
        tables=("transactions", "products"),
        witness="CAST(txn_ts AS DATE) < lines__max_launch_date",
    )
    add(
        "transaction_lines.promotion.in_window",
        "transaction_lines",
        "A promotion is applied only between its start and end dates.",
        "promotion__found AND CAST(txn__txn_ts AS DATE) NOT BETWEEN promotion__start_date AND promotion__end_date",
        [
            "transactions.txn_ts",
            "promotions.start_date",
            "promotions.end_date",
            "transaction_lines.promotion_id",
        ],
        show(
            "promotion_id",
            "txn_ts:txn__txn_ts",
            "start_date:promotion__start_date",
            "end_date:promotion__end_date",
        ),
        lookups=("txn", "promotion"),
        tables=("transactions", "promotions"),
        witness="CAST(txn_ts AS DATE) < lines__max_promo_start OR CAST(txn_ts AS DATE) > lines__min_promo_end",
    )
    add(
        "transaction_lines.promotion.in_store",
        "transaction_lines",
        "A promotion limited to one store is applied only in that store.",
        "promotion__store_id <> txn__store_id",
        ["transaction_lines.promotion_id", "promotions.store_id", "transactions.store_id"],
        show("promotion_id", "promotion_store:promotion__store_id", "store:txn__store_id"),
        lookups=("txn", "promotion"),
        tables=("transactions", "promotions"),
        witness="lines__min_promo_store <> store_id OR lines__max_promo_store <> store_id",
    )
    add(
        "transaction_lines.promotion.matches",
        "transaction_lines",
        "A promotion applies to the line's product at the promotion's discount.",
        "promotion__found AND (product_id IS DISTINCT FROM promotion__product_id"
        " OR abs(discount_pct - promotion__discount_pct) > 1e-6)",
        [
            "transaction_lines.promotion_id",
            "transaction_lines.product_id",
            "transaction_lines.discount_pct",
            "promotions.product_id",
            "promotions.discount_pct",
        ],
        show(
            "product_id",
            "discount_pct",
            "promotion_product:promotion__product_id",
            "promotion_discount:promotion__discount_pct",
        ),
        lookups=("promotion",),
        tables=("promotions",),
    )
    add(
        "transaction_lines.line_amount.arithmetic",
        "transaction_lines",
        "line_amount = quantity × unit_price − discount_amount (within the money tolerance).",
        f"abs(quantity * unit_price - discount_amount - line_amount) > {tol}",
        [
            "transaction_lines.quantity",
            "transaction_lines.unit_price",
            "transaction_lines.discount_amount",
            "transaction_lines.line_amount",
        ],
        show("quantity", "unit_price", "discount_amount", "line_amount"),
    )
    add(
        "transaction_lines.discount_amount.arithmetic",
        "transaction_lines",
        "discount_amount = quantity × unit_price × discount_pct, to the cent.",
        f"abs(discount_amount - quantity * unit_price * discount_pct) > {tol}",
        [
            "transaction_lines.quantity",
            "transaction_lines.unit_price",
            "transaction_lines.discount_pct",
            "transaction_lines.discount_amount",
        ],
        show("quantity", "unit_price", "discount_pct", "discount_amount"),
    )
    add(
        "transaction_lines.discount_amount.not_above_price",
        "transaction_lines",
        "A discount is not larger than the price of the line.",
        f"discount_amount > quantity * unit_price + {tol}",
        ["transaction_lines.quantity", "transaction_lines.unit_price", "transaction_lines.discount_amount"],
        show("quantity", "unit_price", "discount_amount"),
    )
    return rules


# --------------------------------------------------------------------------------------------------------
# user rules
# --------------------------------------------------------------------------------------------------------

_IDENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\b")
_USER_KEYS = {"id", "table", "severity", "description", "fail_if", "detail"}


def lookup_aliases(table: str) -> dict[str, str]:
    """Lookups a rule of ``table`` may read, alias → referenced table (``lines`` → transaction_lines)."""
    spec = schema.table(table)
    out = {fk_alias(fk): fk.ref_table for fk in spec.foreign_keys}
    if table == "transactions":
        out["lines"] = "transaction_lines"
    if has_city(spec):
        out["refcity"] = ""
    return out


def user_rule(entry: dict[str, Any], source: str) -> Rule:
    """Build one user rule from its YAML mapping (keys: id, table, severity, description, fail_if, detail)."""
    where = f"{source}: rule {entry.get('id', '?')!r}"
    unknown = set(entry) - _USER_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_USER_KEYS)}")
    if isinstance(entry.get("fail_if"), bool | int | float):  # YAML turned `FALSE` or `1` into a scalar
        entry = {**entry, "fail_if": str(entry["fail_if"]).upper()}
    for key in ("id", "table", "fail_if"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}: '{key}' is required (a string)")
    table = entry["table"]
    if table not in {t.name for t in schema.DATA_TABLES}:
        raise ConfigError(
            f"{where}: unknown table {table!r}; known: {', '.join(t.name for t in schema.DATA_TABLES)}"
        )
    severity = entry.get("severity", "error")
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}: severity must be error or warning (got {severity!r})")
    sql = entry["fail_if"].strip()
    spec = schema.table(table)
    aliases = lookup_aliases(table)
    idents = set(_IDENT.findall(sql))
    columns = [f"{table}.{c}" for c in spec.column_names if c in idents]
    lookups, tables = [], [table]
    for ident in idents:
        alias, sep, col = ident.partition("__")
        if sep and alias in aliases:
            if alias not in lookups:
                lookups.append(alias)
            ref = aliases[alias]
            if ref and ref not in tables:
                tables.append(ref)
            if ref and col in schema.table(ref).column_index:
                columns.append(f"{ref}.{col}")
    used = [c.split(".", 1)[1] for c in columns if c.startswith(f"{table}.")]
    return Rule(
        id=str(entry["id"]),
        table=table,
        severity=severity,
        description=str(entry.get("description") or sql),
        sql=sql,
        category="user",
        columns=tuple(dict.fromkeys(columns)),
        tables=tuple(tables),
        detail=str(entry.get("detail") or show(*used)),
        lookups=tuple(sorted(lookups)),
        source=source,
    )


def load_user_rules(path: str | Path) -> list[Rule]:
    """Read a YAML file of extra rules.

    The file holds ``rules:``, a list of mappings::

        rules:
          - id: big_basket
            table: transactions
            severity: warning            # error (default) or warning
            description: Baskets of more than 200 items are unusual.
            fail_if: n_items > 200       # DuckDB SQL, TRUE for a failing row
            detail: "'n_items=' || n_items"   # optional, text shown for a failing row

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or a rule lacks a key, names an unknown table or severity.
    """
    p = Path(path)
    raw = read_yaml(p, "rules file", mapping=False)
    entries = raw.get("rules") if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"rules file {p} must hold `rules:`, a list of mappings")
    return [user_rule(e, str(p)) for e in entries]


# --------------------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------------------


def registry(
    source: Dataset | SimConfig | None = None,
    config: QualityConfig | None = None,
    user_rules: Sequence[Rule] | str | Path | None = None,
) -> list[Rule]:
    """Every rule that applies to ``source``: contract, relational, parse (CSV only) and user rules.

    Parameters
    ----------
    source
        A :class:`~retailsim.storage.dataset.Dataset` (its format and horizon decide the parse rules and
        the as-of moment), a :class:`~retailsim.config.SimConfig` (its horizon end is the as-of moment), or
        ``None`` (as-of now; parse rules included).
    config
        Limits and tolerances (default: :class:`QualityConfig` defaults).
    user_rules
        Extra rules, or the path of a YAML rules file (:func:`load_user_rules`).

    Returns
    -------
    list[Rule]
        In a stable order: per table (schema order), contract rules, then relational, then user rules.

    Raises
    ------
    ConfigError
        When a user rule's id repeats another rule's id.
    """
    from retailsim.storage.dataset import Dataset

    config = config or QualityConfig()
    as_of = resolve_as_of(source, config)
    csv = not isinstance(source, Dataset) or source.format == "csv"
    rules: list[Rule] = []
    for spec in schema.DATA_TABLES:
        if csv:
            rules.append(parse_rule(spec))
        rules += contract_rules(spec, config)
    rules += relational_rules(config, as_of)
    if isinstance(user_rules, str | Path):
        user_rules = load_user_rules(user_rules)
    rules += list(user_rules or [])
    order = {t.name: i for i, t in enumerate(schema.DATA_TABLES)}
    cat = {"parse": 0, "contract": 1, "relational": 2, "user": 3}
    rules.sort(key=lambda r: (order[r.table], cat[r.category]))
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise ConfigError(f"rule id {r.id!r} is used twice ({r.source})")
        seen.add(r.id)
    return rules
