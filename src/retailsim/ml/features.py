"""Leakage-free features and labels: one row per (customer, cutoff), computed in DuckDB.

The one rule: a row for cutoff ``c`` reads only transactions with ``txn_ts < c + 1 day`` (the cutoff day is
observed in full); its label is the net spend with ``c + 1 day <= txn_ts < c + 1 day + horizon`` — the
window of :func:`retailsim.generate.oracle.expected_spend`. Every customer known at the cutoff (signed up on
or before it) gets a row, zero spenders included.

Everything goes through the dataset's DuckDB views (``Dataset.connect()``), so a dataset with an extra
transaction appended (see :mod:`retailsim.ml.basket`) is featurised by exactly the same code. Sums of money
are exact (``DECIMAL``), so features do not depend on the order DuckDB's threads add them up in.

Features come in groups; a group whose columns the dataset does not have (an imported log with only customer,
timestamp and amount, say) is left out and :attr:`FeatureSpec.left_out` says why.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from retailsim import schema
from retailsim.ml.errors import AsOfError, NotEnoughDataError, SchemaMismatchError
from retailsim.storage.dataset import Dataset

KEYS = ("cutoff", "customer_id")
#: Stacked BG/NBD + Gamma-Gamma summaries (when :attr:`FeatureSpec.bgnbd` is set).
BG_COLUMNS = ("bg_expected_purchases", "bg_p_alive", "bg_expected_spend")
LABEL = "label"
WINDOWS = (7, 30, 90, 365)
SPEC_VERSION = 1


@dataclass(frozen=True)
class Group:
    """A family of features and the ``table.column`` s it needs."""

    name: str
    needs: tuple[str, ...]
    description: str


GROUPS: tuple[Group, ...] = (
    Group(
        "calendar",
        (),
        "the label window's calendar: Fridays and Saturdays, December days, season (sine/cosine of the "
        "day of year) — known in advance, no data needed",
    ),
    Group(
        "core",
        ("transactions.customer_id", "transactions.txn_ts", "transactions.total_amount"),
        "recency, frequency, monetary value over 7/30/90/365 days and all history, daily spend, trend, "
        "same window last year, inter-purchase time, tenure, BG/NBD summaries",
    ),
    Group("items", ("transactions.n_items",), "units bought and units per basket"),
    Group("basket_lines", ("transactions.n_lines",), "line items per basket"),
    Group("prices", ("transactions.gross_amount", "transactions.n_items"), "average unit price"),
    Group(
        "discounts",
        ("transactions.gross_amount", "transactions.discount_amount"),
        "share of gross spend given as discount",
    ),
    Group("channel", ("transactions.channel",), "share of online / app baskets"),
    Group(
        "store_format", ("transactions.store_id", "stores.format"), "share by store format, preferred format"
    ),
    Group(
        "categories",
        (
            "transaction_lines.txn_id",
            "transaction_lines.product_id",
            "transaction_lines.line_amount",
            "products.department",
        ),
        "spend share by department, departments bought",
    ),
    Group(
        "promotions", ("transaction_lines.txn_id", "transaction_lines.promotion_id"), "promoted line share"
    ),
    Group("age", ("customers.birth_date",), "age at the cutoff"),
    Group("gender", ("customers.gender",), "gender"),
    Group("region", ("customers.region",), "home region"),
    Group("city", ("customers.city",), "home city"),
    Group("signup_channel", ("customers.signup_channel",), "signup channel"),
    Group("marketing", ("customers.marketing_opt_in",), "marketing opt-in"),
    Group("home_store", ("customers.home_store_id", "stores.format"), "format of the home store"),
    Group("loyalty", (), "loyalty tier as of the cutoff (retailsim.loyalty.tiers_as_of)"),
)
GROUP_INDEX = {g.name: g for g in GROUPS}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def _q(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a model uses; fixed at training and stored (as JSON) with the model.

    Attributes
    ----------
    horizon_days
        Label window length.
    sequence_weeks
        Weeks in the recurrent models' input sequence.
    groups
        Feature groups in use.
    departments
        Department names whose spend shares are features (``categories`` group).
    left_out
        Group name → why it is not used (missing columns, loyalty module unavailable …).
    loyalty_config
        Tier rules of the ``loyalty`` group (fixed at training).
    bgnbd
        BG/NBD + Gamma-Gamma parameters (``bg``, ``gg``), fitted on every customer's history up to
        ``fitted_at`` (the last day of the training data), and ``cold_start``, the expected spend of a customer
        without a purchase yet. When set, the frames get the model-based summaries :data:`BG_COLUMNS`
        (closed forms of the ``bg_*`` RFM features); they are model inputs unless ``stacked`` is false.
    """

    horizon_days: int = 30
    sequence_weeks: int = 52
    groups: tuple[str, ...] = ("calendar", "core")
    departments: tuple[str, ...] = ()
    left_out: dict[str, str] = field(default_factory=dict)
    loyalty_config: dict[str, Any] | None = None
    bgnbd: dict[str, Any] | None = None
    version: int = SPEC_VERSION

    # -- columns -----------------------------------------------------------------------------------------
    @property
    def numeric(self) -> list[str]:
        """Numeric feature columns, in a fixed order."""
        g = set(self.groups)
        cols = [
            "tenure_days",
            "observed_days",
            "has_purchase",
            "recency_days",
            "days_since_first",
            "purchase_days",
            *(f"txns_{w}" for w in (*WINDOWS, "all")),
            *(f"spend_{w}" for w in (*WINDOWS, "all")),
            *(f"active_days_{w}" for w in WINDOWS[1:]),
            "avg_basket_90",
            "avg_basket_365",
            "avg_basket_all",
            "max_day_spend_365",
            "daily_spend_365",
            "daily_spend_all",
            "spend_prev_90",
            "trend_90",
            "spend_ly_window",
            "ipt_mean",
            "ipt_std",
            "recency_ratio",
            "bg_frequency",
            "bg_recency",
            "bg_T",
            "bg_monetary",
            "bg_recency_share",
            "bg_purchase_rate",
        ]
        if "calendar" in g:
            cols += ["window_fri_sat", "window_december_days", "window_season_sin", "window_season_cos"]
        if "items" in g:
            cols += ["items_90", "items_365", "items_per_txn_365"]
        if "basket_lines" in g:
            cols += ["lines_per_txn_365"]
        if "prices" in g:
            cols += ["avg_unit_price_365"]
        if "discounts" in g:
            cols += ["discount_share_365"]
        if "channel" in g:
            cols += ["online_share_365"]
        if "store_format" in g:
            cols += [f"format_share_{f}" for f in schema.STORE_FORMATS]
        if "categories" in g:
            cols += [f"dept_share_{_slug(d)}" for d in self.departments] + ["departments_365"]
        if "promotions" in g:
            cols += ["promo_line_share_365"]
        if "age" in g:
            cols += ["age"]
        if "marketing" in g:
            cols += ["marketing_opt_in"]
        if "loyalty" in g:
            cols += ["tier_rank"]
        if self.stacks_bgnbd:
            cols += list(BG_COLUMNS)
        return cols

    @property
    def stacks_bgnbd(self) -> bool:
        """Whether :data:`BG_COLUMNS` are model inputs (they are computed whenever :attr:`bgnbd` is set: the
        BG/NBD baseline and the BG/NBD-based booster read them)."""
        return self.bgnbd is not None and bool(self.bgnbd.get("stacked", True))

    @property
    def categorical(self) -> list[str]:
        """Categorical (string) feature columns."""
        g = set(self.groups)
        order = [
            ("store_format", "preferred_format"),
            ("gender", "gender"),
            ("region", "region"),
            ("city", "city"),
            ("signup_channel", "signup_channel"),
            ("home_store", "home_format"),
        ]
        return [col for grp, col in order if grp in g]

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical

    @property
    def sequence_columns(self) -> list[str]:
        w = self.sequence_weeks
        return [f"seq_spend_{i:03d}" for i in range(w)] + [f"seq_txns_{i:03d}" for i in range(w)]

    @property
    def required_columns(self) -> list[str]:
        """``table.column`` s a dataset must have to be scored with this spec."""
        need: list[str] = []
        for g in self.groups:
            for c in GROUP_INDEX[g].needs:
                if c not in need:
                    need.append(c)
        return need

    # -- JSON --------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["groups"] = list(self.groups)
        d["departments"] = list(self.departments)
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        if data.get("version") != SPEC_VERSION:
            raise SchemaMismatchError(f"feature spec version {data.get('version')!r} is not supported")
        unknown = set(data.get("groups", [])) - set(GROUP_INDEX)
        if unknown:
            raise SchemaMismatchError(f"feature spec names unknown feature groups {sorted(unknown)}")
        return cls(
            horizon_days=int(data["horizon_days"]),
            sequence_weeks=int(data["sequence_weeks"]),
            groups=tuple(data["groups"]),
            departments=tuple(data["departments"]),
            left_out=dict(data.get("left_out", {})),
            loyalty_config=data.get("loyalty_config"),
            bgnbd=data.get("bgnbd"),
        )

    def digest(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------
# planning: which groups a dataset supports, which cutoffs it has room for
# ---------------------------------------------------------------------------------------------------------
def _has(ds: Dataset, qualified: str) -> bool:
    table, column = qualified.split(".")
    return ds.has_column(table, column)


def _loyalty_fn() -> Any:
    """``retailsim.loyalty.tiers_as_of`` when that capability is installed, else None (guarded import)."""
    try:
        from retailsim.loyalty import tiers_as_of
    except ImportError:
        return None
    return tiers_as_of


def _loyalty_config(ds: Dataset) -> dict[str, Any] | None:
    """The tier rules ``tiers_as_of`` would use on ``ds`` (stored with its tier history, else defaults)."""
    try:
        from retailsim.loyalty import LoyaltyConfig

        try:
            from retailsim.loyalty.store import stored_config

            cfg = stored_config(ds) or LoyaltyConfig()
        except ImportError:  # pragma: no cover - older loyalty layouts
            cfg = LoyaltyConfig()
        return dict(cfg.model_dump(mode="json"))
    except ImportError:  # pragma: no cover
        return None


def plan_features(ds: Dataset, *, horizon_days: int = 30, sequence_weeks: int = 52) -> FeatureSpec:
    """Decide the feature groups ``ds`` supports; record every group left out and why.

    Raises
    ------
    SchemaMismatchError
        When even the core columns (customer, timestamp, amount) are missing.
    """
    groups: list[str] = []
    left_out: dict[str, str] = {}
    for g in GROUPS:
        missing = [c for c in g.needs if not _has(ds, c)]
        if missing:
            left_out[g.name] = f"needs {', '.join(missing)}, absent in this dataset"
            continue
        if g.name == "loyalty":
            fn = _loyalty_fn()
            if fn is None:
                left_out[g.name] = "retailsim.loyalty.tiers_as_of is not available"
                continue
        groups.append(g.name)
    if "core" not in groups:
        raise SchemaMismatchError(f"{ds.path}: cannot build features: {left_out['core']}")
    departments: tuple[str, ...] = ()
    if "categories" in groups:
        con = ds.connect()
        try:
            rows = con.execute(
                "SELECT DISTINCT department FROM products WHERE department IS NOT NULL ORDER BY 1"
            ).fetchall()
        finally:
            con.close()
        departments = tuple(r[0] for r in rows)
        if not departments:
            groups.remove("categories")
            left_out["categories"] = "products.department holds no values"
    return FeatureSpec(
        horizon_days=horizon_days,
        sequence_weeks=sequence_weeks,
        groups=tuple(groups),
        departments=departments,
        left_out=left_out,
        loyalty_config=_loyalty_config(ds) if "loyalty" in groups else None,
    )


def check_compatible(ds: Dataset, spec: FeatureSpec) -> None:
    """Raise :class:`SchemaMismatchError` when ``ds`` lacks a column the model's features need."""
    missing = [c for c in spec.required_columns if not _has(ds, c)]
    if missing:
        raise SchemaMismatchError(
            f"the model was trained on data with {', '.join(missing)}, which {ds.path} does not have; "
            "train a model on this dataset instead"
        )
    if "loyalty" in spec.groups and _loyalty_fn() is None:
        raise SchemaMismatchError("the model uses the loyalty tier but retailsim.loyalty is not available")


def data_range(ds: Dataset) -> tuple[dt.date, dt.date]:
    """First and last day of observed transactions (the simulated horizon for generated data)."""
    hz = ds.manifest.get("horizon")
    if ds.kind == "generated" and hz:
        start = dt.date.fromisoformat(hz["start"])
        end = dt.date.fromisoformat(hz["end"]) - dt.timedelta(days=1)
        return start, end
    con = ds.connect()
    try:
        lo, hi = con.execute("SELECT min(txn_ts), max(txn_ts) FROM transactions").fetchone() or (None, None)
    finally:
        con.close()
    if lo is None:
        raise NotEnoughDataError(f"{ds.path}: the transactions table is empty")
    return pd.Timestamp(lo).date(), pd.Timestamp(hi).date()


def _month_end(d: dt.date) -> dt.date:
    nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def candidate_cutoffs(
    ds: Dataset, *, every: str = "1M", horizon_days: int = 30, min_history_days: int = 56
) -> list[dt.date]:
    """Every cutoff with a complete label window inside the data, spaced by ``every`` (1M = month ends).

    D/W spacings count back from the last possible cutoff, so the latest one is always included.
    """
    start, end = data_range(ds)
    last = end - dt.timedelta(days=horizon_days)
    first = start + dt.timedelta(days=min_history_days)
    n, unit = int(every[:-1]), every[-1]
    out: list[dt.date] = []
    if unit == "M":
        d = _month_end(last)
        if d > last:
            d = _month_end(d.replace(day=1) - dt.timedelta(days=1))
        months: list[dt.date] = []
        while d >= first:
            months.append(d)
            d = _month_end(d.replace(day=1) - dt.timedelta(days=1))
        out = months[::n]
    else:
        step = dt.timedelta(days=n * (7 if unit == "W" else 1))
        d = last
        while d >= first:
            out.append(d)
            d -= step
    return sorted(out)


@dataclass(frozen=True)
class CutoffPlan:
    """The backtest's cutoffs. No training label window reaches past the validation cutoff, and the
    validation label window ends on or before the test cutoff, so label windows never overlap."""

    train: tuple[dt.date, ...]
    validation: dt.date
    test: dt.date
    horizon_days: int

    @property
    def all(self) -> list[dt.date]:
        return [*self.train, self.validation, self.test]

    def to_json(self) -> dict[str, Any]:
        return {
            "train": [d.isoformat() for d in self.train],
            "validation": self.validation.isoformat(),
            "test": self.test.isoformat(),
            "horizon_days": self.horizon_days,
        }


def plan_cutoffs(
    ds: Dataset,
    *,
    cutoffs: Sequence[dt.date] | None = None,
    every: str = "1M",
    horizon_days: int = 30,
    train_cutoffs: int = 12,
    min_history_days: int = 56,
) -> CutoffPlan:
    """Pick training, validation and test cutoffs (explicit or every ``every``), checking non-overlap.

    Raises
    ------
    NotEnoughDataError
        When the data has room for fewer than three usable cutoffs, or explicit cutoffs overlap or leave the
        data.
    """
    h = dt.timedelta(days=horizon_days)
    start, end = data_range(ds)
    if cutoffs is not None:
        cs = sorted(cutoffs)
        bad = [c for c in cs if c < start or c + h > end]
        if bad:
            raise NotEnoughDataError(
                f"cutoffs {', '.join(map(str, bad))} leave the data ({start} .. {end}) with a "
                f"{horizon_days}-day label window; the latest usable cutoff is {end - h}"
            )
        test, val = cs[-1], cs[-2]
        if val + h > test:
            raise NotEnoughDataError(
                f"the validation window ({val} + {horizon_days} days) overlaps the test window after {test}"
            )
        train = [c for c in cs[:-2] if c + h <= val]
        if len(train) < len(cs) - 2:
            raise NotEnoughDataError(
                f"training cutoffs {', '.join(str(c) for c in cs[:-2] if c + h > val)} have label windows "
                f"that reach past the validation cutoff {val}"
            )
    else:
        cand = candidate_cutoffs(
            ds, every=every, horizon_days=horizon_days, min_history_days=min_history_days
        )
        if not cand:
            raise NotEnoughDataError(
                f"{ds.path}: the data ({start} .. {end}) is too short for a {horizon_days}-day horizon "
                f"after {min_history_days} days of history"
            )
        test = cand[-1]
        vals = [c for c in cand if c + h <= test]
        if not vals:
            raise NotEnoughDataError(
                f"{ds.path}: no room for a validation cutoff before the test cutoff {test}"
            )
        val = vals[-1]
        train = [c for c in cand if c + h <= val]
    train = train[-train_cutoffs:]
    if not train:
        raise NotEnoughDataError(
            f"{ds.path}: the data ({start} .. {end}) has no room for a training cutoff before the validation "
            f"cutoff {val} with a {horizon_days}-day horizon; use a shorter horizon or more data"
        )
    return CutoffPlan(tuple(train), val, test, horizon_days)


# ---------------------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------------------
def _cents(col: str) -> str:
    """Money as integer cents: exact sums, so features do not depend on the order threads add them."""
    return f"CAST(round({col} * 100) AS BIGINT)"


def _eur(expr: str) -> str:
    """An exact sum of cents back to currency units (DOUBLE)."""
    return f"(CAST({expr} AS DOUBLE) / 100)"


def _ratio(num: str, den: str) -> str:
    return (
        f"CASE WHEN COALESCE({den}, 0) > 0 THEN CAST(COALESCE({num}, 0) AS DOUBLE) / CAST({den} AS DOUBLE) "
        "ELSE 0.0 END"
    )


def _money(expr: str) -> str:
    return f"CAST(COALESCE({expr}, 0) AS DOUBLE)"


def _to_date(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def build_features(
    ds: Dataset,
    cutoffs: Iterable[dt.date | str],
    spec: FeatureSpec,
    *,
    customers: Iterable[int] | None = None,
    labels: bool = False,
    sequences: bool = False,
    threads: int = 2,
) -> pd.DataFrame:
    """One row per (cutoff, customer known at the cutoff) with the features of ``spec``.

    Parameters
    ----------
    ds
        The dataset (or an :class:`~retailsim.ml.basket.OverlayDataset`).
    cutoffs
        Cutoff dates; each row reads only transactions on or before its cutoff.
    spec
        The feature spec (from :func:`plan_features` or a trained model).
    customers
        Only these customer ids (unknown ids simply get no row).
    labels
        Add ``label``: net spend in the ``horizon_days`` after the cutoff (all of it must lie in the data).
    sequences
        Add the weekly spend and basket count of the last ``spec.sequence_weeks`` weeks (``seq_*``).
    threads
        DuckDB threads.

    Returns
    -------
    pandas.DataFrame
        Sorted by cutoff then customer_id; ``cutoff`` is a ``datetime64`` column.
    """
    cuts = sorted({_to_date(c) for c in cutoffs})
    if not cuts:
        raise AsOfError("no cutoff given")
    check_compatible(ds, spec)
    g = set(spec.groups)
    con = ds.connect()
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET enable_progress_bar = false")
        con.execute("CREATE TEMP TABLE ml_cutoffs (cutoff DATE)")
        con.executemany("INSERT INTO ml_cutoffs VALUES (?)", [(c,) for c in cuts])
        id_filter = ""
        if customers is not None:
            ids = pd.DataFrame({"customer_id": pd.array(list(customers), dtype="int64")})
            con.register("ml_ids_df", ids)
            con.execute("CREATE TEMP TABLE ml_ids AS SELECT DISTINCT customer_id FROM ml_ids_df")
            con.unregister("ml_ids_df")
            id_filter = " AND t.customer_id IN (SELECT customer_id FROM ml_ids)"
        return _build(con, ds, cuts, spec, g, id_filter, labels, sequences)
    finally:
        con.close()


def _build(
    con: duckdb.DuckDBPyConnection,
    ds: Dataset,
    cuts: list[dt.date],
    spec: FeatureSpec,
    g: set[str],
    id_filter: str,
    labels: bool,
    sequences: bool,
) -> pd.DataFrame:
    h = spec.horizon_days
    upto = f"TIMESTAMP '{(cuts[-1] + dt.timedelta(days=1)).isoformat()}'"
    pid_filter = id_filter.replace("t.customer_id", "p.customer_id")

    # -- population: everyone known at the cutoff ------------------------------------------------------
    demo_cols = []
    if "age" in g:
        demo_cols.append("p.birth_date")
    for grp, col in (
        ("gender", "gender"),
        ("region", "region"),
        ("city", "city"),
        ("signup_channel", "signup_channel"),
        ("marketing", "marketing_opt_in"),
        ("home_store", "home_store_id"),
    ):
        if grp in g:
            demo_cols.append(f"p.{col}")
    if ds.has_column("customers", "signup_date"):
        people = f"SELECT p.customer_id, p.signup_date{''.join(', ' + c for c in demo_cols)} FROM customers p WHERE true{pid_filter}"
    else:
        people = (
            "SELECT t.customer_id, CAST(MIN(t.txn_ts) AS DATE) AS signup_date FROM transactions t "
            f"WHERE t.customer_id IS NOT NULL{id_filter} GROUP BY 1"
        )
    con.execute(f"""
        CREATE TEMP TABLE ml_pop AS
        SELECT row_number() OVER (ORDER BY c.cutoff, p.customer_id) - 1 AS rn, c.cutoff, p.*
        FROM ml_cutoffs c JOIN ({people}) p ON p.signup_date <= c.cutoff
    """)

    # -- customer-day aggregates of the headers --------------------------------------------------------
    extra = []
    if "items" in g:
        extra.append("SUM(t.n_items) AS items")
    if "basket_lines" in g:
        extra.append("SUM(t.n_lines) AS nlines")
    if "prices" in g or "discounts" in g:
        extra.append(f"SUM({_cents('t.gross_amount')}) AS gross")
    if "discounts" in g:
        extra.append(f"SUM({_cents('t.discount_amount')}) AS discount")
    if "channel" in g:
        extra.append("COUNT(*) FILTER (WHERE t.channel <> 'in_store') AS online_txns")
    join_stores = ""
    if "store_format" in g:
        join_stores = "LEFT JOIN stores s ON s.store_id = t.store_id"
        extra += [f"COUNT(*) FILTER (WHERE s.format = {_q(f)}) AS fmt_{f}" for f in schema.STORE_FORMATS]
    con.execute(f"""
        CREATE TEMP TABLE ml_daily AS
        SELECT *, datediff('day', LAG(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS gap
        FROM (
            SELECT t.customer_id, CAST(t.txn_ts AS DATE) AS d, SUM({_cents("t.total_amount")}) AS spend,
                   COUNT(*) AS txns{"".join(", " + e for e in extra)}
            FROM transactions t {join_stores}
            WHERE t.customer_id IS NOT NULL AND t.txn_ts < {upto}{id_filter}
            GROUP BY 1, 2
        )
    """)

    def win(expr: str, days: int, agg: str = "SUM") -> str:
        return f"{agg}({expr}) FILTER (WHERE d.d > c.cutoff - {days})"

    sel = ["COUNT(*) AS purchase_days", "SUM(d.txns) AS txns_all", f"{_eur('SUM(d.spend)')} AS spend_all"]
    for w in WINDOWS:
        sel += [f"{win('d.txns', w)} AS txns_{w}", f"{_eur(win('d.spend', w))} AS spend_{w}"]
        if w > 7:
            sel.append(f"COUNT(*) FILTER (WHERE d.d > c.cutoff - {w}) AS active_days_{w}")
    sel += [
        "MAX(d.d) AS last_d",
        "MIN(d.d) AS first_d",
        f"{_eur('arg_min(d.spend, d.d)')} AS first_day_spend",
        f"{_eur(win('d.spend', 365, 'MAX'))} AS max_day_spend_365",
        _eur("SUM(d.spend) FILTER (WHERE d.d > c.cutoff - 180 AND d.d <= c.cutoff - 90)")
        + " AS spend_prev_90",
        _eur(f"SUM(d.spend) FILTER (WHERE d.d > c.cutoff - 365 AND d.d <= c.cutoff - 365 + {h})")
        + " AS spend_ly_window",
        "COUNT(d.gap) AS gap_n",
        "SUM(CAST(d.gap AS HUGEINT)) AS gap_sum",
        "SUM(CAST(d.gap AS HUGEINT) * d.gap) AS gap_sq",
    ]
    if "items" in g:
        sel += [f"{win('d.items', 90)} AS items_90", f"{win('d.items', 365)} AS items_365"]
    if "basket_lines" in g:
        sel.append(f"{win('d.nlines', 365)} AS nlines_365")
    if "prices" in g or "discounts" in g:
        sel.append(f"{_eur(win('d.gross', 365))} AS gross_365")
    if "discounts" in g:
        sel.append(f"{_eur(win('d.discount', 365))} AS discount_365")
    if "channel" in g:
        sel.append(f"{win('d.online_txns', 365)} AS online_365")
    if "store_format" in g:
        sel += [f"{win(f'd.fmt_{f}', 365)} AS fmt_{f}_365" for f in schema.STORE_FORMATS]
    con.execute(f"""
        CREATE TEMP TABLE ml_agg AS
        SELECT c.cutoff, d.customer_id, {", ".join(sel)}
        FROM ml_cutoffs c JOIN ml_daily d ON d.d <= c.cutoff
        GROUP BY 1, 2
    """)

    # -- line items: departments and promotions --------------------------------------------------------
    line_sel: list[str] = []
    if "categories" in g or "promotions" in g:
        lsel = ["COUNT(*) AS lines"]
        join_products = ""
        if "promotions" in g:
            lsel.append("COUNT(l.promotion_id) AS promo_lines")
        if "categories" in g:
            join_products = "LEFT JOIN products pr ON pr.product_id = l.product_id"
            lsel.append(f"SUM({_cents('l.line_amount')}) AS line_spend")
            lsel += [
                f"SUM({_cents('l.line_amount')}) FILTER (WHERE pr.department = {_q(dep)}) AS dept_{i}"
                for i, dep in enumerate(spec.departments)
            ]
        con.execute(f"""
            CREATE TEMP TABLE ml_ldaily AS
            SELECT t.customer_id, CAST(t.txn_ts AS DATE) AS d, {", ".join(lsel)}
            FROM transaction_lines l JOIN transactions t ON t.txn_id = l.txn_id {join_products}
            WHERE t.customer_id IS NOT NULL AND t.txn_ts < {upto}{id_filter}
            GROUP BY 1, 2
        """)
        lagg = [f"{win('d.lines', 365)} AS lines_365"]
        if "promotions" in g:
            lagg.append(f"{win('d.promo_lines', 365)} AS promo_lines_365")
        if "categories" in g:
            lagg.append(f"{win('d.line_spend', 365)} AS line_spend_365")
            lagg += [f"{win(f'd.dept_{i}', 365)} AS dept_{i}_365" for i in range(len(spec.departments))]
        con.execute(f"""
            CREATE TEMP TABLE ml_lagg AS
            SELECT c.cutoff, d.customer_id, {", ".join(lagg)}
            FROM ml_cutoffs c JOIN ml_ldaily d ON d.d <= c.cutoff AND d.d > c.cutoff - 365
            GROUP BY 1, 2
        """)
        if "promotions" in g:
            line_sel.append(f"{_ratio('l.promo_lines_365', 'l.lines_365')} AS promo_line_share_365")
        if "categories" in g:
            line_sel += [
                f"{_ratio(f'l.dept_{i}_365', 'l.line_spend_365')} AS dept_share_{_slug(dep)}"
                for i, dep in enumerate(spec.departments)
            ]
            line_sel.append(
                "("
                + " + ".join(
                    f"(COALESCE(l.dept_{i}_365, 0) > 0)::INTEGER" for i in range(len(spec.departments))
                )
                + ")::DOUBLE AS departments_365"
            )

    # -- the label window's calendar (a function of the cutoff date only) -----------------------------
    join_cal = ""
    if "calendar" in g:
        con.register("ml_cal_df", calendar_features(cuts, h))
        con.execute(
            "CREATE TEMP TABLE ml_cal AS SELECT * REPLACE (CAST(cutoff AS DATE) AS cutoff) FROM ml_cal_df"
        )
        con.unregister("ml_cal_df")
        join_cal = "LEFT JOIN ml_cal cal ON cal.cutoff = p.cutoff"

    # -- loyalty tier as of each cutoff ---------------------------------------------------------------
    join_tiers = ""
    if "loyalty" in g:
        _register_tiers(con, ds, cuts, spec)
        join_tiers = "LEFT JOIN ml_tiers lt ON lt.cutoff = p.cutoff AND lt.customer_id = p.customer_id"

    # -- final rows ----------------------------------------------------------------------------------
    first_day = con.execute("SELECT CAST(MIN(txn_ts) AS DATE) FROM transactions").fetchone()
    data_start = _to_date(first_day[0]) if first_day and first_day[0] is not None else cuts[0]
    joined = "LEAST(p.signup_date, COALESCE(a.first_d, p.signup_date))"
    tenure = f"(datediff('day', {joined}, p.cutoff) + 1)"
    # days the customer could have been seen buying: since joining, but not before the data starts
    observed = f"(datediff('day', GREATEST({joined}, DATE '{data_start.isoformat()}'), p.cutoff) + 1)"
    out = [
        "p.cutoff",
        "p.customer_id",
        f"CAST({tenure} AS DOUBLE) AS tenure_days",
        f"CAST({observed} AS DOUBLE) AS observed_days",
        "CAST(a.purchase_days IS NOT NULL AS DOUBLE) AS has_purchase",
        f"CAST(COALESCE(datediff('day', a.last_d, p.cutoff), {observed}) AS DOUBLE) AS recency_days",
        "CAST(COALESCE(datediff('day', a.first_d, p.cutoff), 0) AS DOUBLE) AS days_since_first",
        "CAST(COALESCE(a.purchase_days, 0) AS DOUBLE) AS purchase_days",
    ]
    for w in (*WINDOWS, "all"):
        out.append(f"CAST(COALESCE(a.txns_{w}, 0) AS DOUBLE) AS txns_{w}")
    for w in (*WINDOWS, "all"):
        out.append(f"{_money(f'a.spend_{w}')} AS spend_{w}")
    for w in WINDOWS[1:]:
        out.append(f"CAST(COALESCE(a.active_days_{w}, 0) AS DOUBLE) AS active_days_{w}")
    out += [
        f"{_ratio('a.spend_90', 'a.txns_90')} AS avg_basket_90",
        f"{_ratio('a.spend_365', 'a.txns_365')} AS avg_basket_365",
        f"{_ratio('a.spend_all', 'a.txns_all')} AS avg_basket_all",
        f"{_money('a.max_day_spend_365')} AS max_day_spend_365",
        f"{_money('a.spend_365')} / LEAST(365, {observed}) AS daily_spend_365",
        f"{_money('a.spend_all')} / {observed} AS daily_spend_all",
        f"{_money('a.spend_prev_90')} AS spend_prev_90",
        f"ln(({_money('a.spend_90')} + 1) / ({_money('a.spend_prev_90')} + 1)) AS trend_90",
        f"{_money('a.spend_ly_window')} AS spend_ly_window",
        f"{_ratio('a.gap_sum', 'a.gap_n')} AS ipt_mean",
        "CASE WHEN a.gap_n > 1 THEN sqrt(GREATEST(0.0, (CAST(a.gap_sq AS DOUBLE) - CAST(a.gap_sum AS DOUBLE) "
        "* CAST(a.gap_sum AS DOUBLE) / a.gap_n) / (a.gap_n - 1))) ELSE 0.0 END AS ipt_std",
        "CASE WHEN a.gap_n > 0 AND a.gap_sum > 0 THEN datediff('day', a.last_d, p.cutoff) * CAST(a.gap_n AS "
        "DOUBLE) / CAST(a.gap_sum AS DOUBLE) ELSE 0.0 END AS recency_ratio",
        "CAST(COALESCE(a.purchase_days - 1, 0) AS DOUBLE) AS bg_frequency",
        "CAST(COALESCE(datediff('day', a.first_d, a.last_d), 0) AS DOUBLE) AS bg_recency",
        "CAST(COALESCE(datediff('day', a.first_d, p.cutoff), 0) AS DOUBLE) AS bg_T",
        "CASE WHEN a.purchase_days > 1 THEN CAST((a.spend_all - a.first_day_spend) AS DOUBLE) "
        "/ (a.purchase_days - 1) ELSE 0.0 END AS bg_monetary",
        # relative to the customer's age, so they mean the same for young and old customers (a model trained
        # on a young base keeps its level on an older one)
        "CASE WHEN datediff('day', a.first_d, p.cutoff) > 0 THEN CAST(datediff('day', a.first_d, a.last_d) AS "
        "DOUBLE) / datediff('day', a.first_d, p.cutoff) ELSE 0.0 END AS bg_recency_share",
        "CASE WHEN datediff('day', a.first_d, p.cutoff) > 0 THEN 30.0 * (a.purchase_days - 1) "
        "/ datediff('day', a.first_d, p.cutoff) ELSE 0.0 END AS bg_purchase_rate",
    ]
    if "calendar" in g:
        out += [
            f"cal.{c}"
            for c in ("window_fri_sat", "window_december_days", "window_season_sin", "window_season_cos")
        ]
    if "items" in g:
        out += [
            "CAST(COALESCE(a.items_90, 0) AS DOUBLE) AS items_90",
            "CAST(COALESCE(a.items_365, 0) AS DOUBLE) AS items_365",
            f"{_ratio('a.items_365', 'a.txns_365')} AS items_per_txn_365",
        ]
    if "basket_lines" in g:
        out.append(f"{_ratio('a.nlines_365', 'a.txns_365')} AS lines_per_txn_365")
    if "prices" in g:
        out.append(f"{_ratio('a.gross_365', 'a.items_365')} AS avg_unit_price_365")
    if "discounts" in g:
        out.append(f"{_ratio('a.discount_365', 'a.gross_365')} AS discount_share_365")
    if "channel" in g:
        out.append(f"{_ratio('a.online_365', 'a.txns_365')} AS online_share_365")
    if "store_format" in g:
        out += [f"{_ratio(f'a.fmt_{f}_365', 'a.txns_365')} AS format_share_{f}" for f in schema.STORE_FORMATS]
        # preferred format: most baskets in the last 365 days; ties go to the earlier format in the list
        best = "GREATEST(" + ", ".join(f"COALESCE(a.fmt_{f}_365, 0)" for f in schema.STORE_FORMATS) + ")"
        cases = " ".join(
            f"WHEN COALESCE(a.fmt_{f}_365, 0) = {best} THEN {_q(f)}" for f in schema.STORE_FORMATS
        )
        out.append(f"CASE WHEN COALESCE(a.txns_365, 0) = 0 THEN 'none' {cases} END AS preferred_format")
    out += line_sel
    if "age" in g:
        out.append("COALESCE(datediff('day', p.birth_date, p.cutoff) / 365.25, 0.0) AS age")
    for grp, col in (
        ("gender", "gender"),
        ("region", "region"),
        ("city", "city"),
        ("signup_channel", "signup_channel"),
    ):
        if grp in g:
            out.append(f"COALESCE(CAST(p.{col} AS VARCHAR), 'unknown') AS {col}")
    if "marketing" in g:
        out.append("CAST(COALESCE(CAST(p.marketing_opt_in AS INTEGER), 0) AS DOUBLE) AS marketing_opt_in")
    join_home = ""
    if "home_store" in g:
        join_home = "LEFT JOIN stores hs ON hs.store_id = p.home_store_id"
        out.append("COALESCE(hs.format, 'unknown') AS home_format")
    if "loyalty" in g:
        out.append("CAST(COALESCE(lt.tier_rank, 0) AS DOUBLE) AS tier_rank")
    join_lines = (
        "LEFT JOIN ml_lagg l ON l.cutoff = p.cutoff AND l.customer_id = p.customer_id" if line_sel else ""
    )
    frame = con.execute(f"""
        SELECT {", ".join(out)}
        FROM ml_pop p
        LEFT JOIN ml_agg a ON a.cutoff = p.cutoff AND a.customer_id = p.customer_id
        {join_lines} {join_home} {join_tiers} {join_cal}
        ORDER BY p.cutoff, p.customer_id
    """).df()

    if spec.bgnbd is not None:
        add_bgnbd_columns(frame, spec)
    if labels:
        frame[LABEL] = _labels(con, ds, cuts, h, id_filter, frame)
    if sequences:
        frame = pd.concat([frame, _sequences(con, spec, frame)], axis=1)
    frame["cutoff"] = pd.to_datetime(frame["cutoff"]).astype("datetime64[s]")
    frame["customer_id"] = frame["customer_id"].astype("int64")
    return frame


def bgnbd_rfm(frame: pd.DataFrame) -> pd.DataFrame:
    """The RFM summary BG/NBD and Gamma-Gamma are fitted on (customers with at least one purchase):
    ``frequency`` (repeat purchase days), ``recency``, ``T`` (days) and ``monetary_value`` (mean repeat-day
    spend), from the ``bg_*`` features of one date."""
    buyers = frame["has_purchase"].to_numpy() > 0
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy()[buyers],
            "frequency": frame["bg_frequency"].to_numpy()[buyers],
            "recency": frame["bg_recency"].to_numpy()[buyers],
            "T": frame["bg_T"].to_numpy()[buyers],
            "monetary_value": frame["bg_monetary"].to_numpy()[buyers],
        }
    )


def add_bgnbd_columns(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    params: dict[str, Any] | None = None,
    *,
    by_cutoff: dict[Any, dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Add :data:`BG_COLUMNS` to ``frame`` (in place) from its ``bg_*`` RFM features: expected purchase days in
    the horizon, P(still active) and expected spend (the ``cold_start`` constant for customers without a
    purchase). Parameters: ``by_cutoff[cutoff]`` for each row's cutoff when given (the backtest: fitted as of
    each cutoff), else ``params``, else ``spec.bgnbd``."""
    from retailsim.ml.clv import bgnbd_expected_purchases, bgnbd_p_alive, gamma_gamma_spend

    default = params if params is not None else spec.bgnbd
    if default is None and by_cutoff is None:
        return frame
    x = frame["bg_frequency"].to_numpy(dtype=np.float64)
    rec = frame["bg_recency"].to_numpy(dtype=np.float64)
    age = frame["bg_T"].to_numpy(dtype=np.float64)
    value = frame["bg_monetary"].to_numpy(dtype=np.float64)
    bought = frame["has_purchase"].to_numpy() > 0
    cols = {c: np.zeros(len(frame)) for c in BG_COLUMNS}
    if by_cutoff is None:
        groups = {None: np.arange(len(frame))}
    else:
        cut = pd.to_datetime(frame["cutoff"]).dt.date.to_numpy()
        groups = {c: np.flatnonzero(cut == c) for c in np.unique(cut)}
    for key, rows in groups.items():
        p = default if key is None else by_cutoff[key]  # type: ignore[index]
        assert p is not None
        b = bought[rows]
        purchases = bgnbd_expected_purchases(p["bg"], float(spec.horizon_days), x[rows], rec[rows], age[rows])
        spend = gamma_gamma_spend(p["gg"], x[rows], value[rows])
        cols["bg_expected_purchases"][rows] = np.where(b, purchases, 0.0)
        cols["bg_p_alive"][rows] = np.where(b, bgnbd_p_alive(p["bg"], x[rows], rec[rows], age[rows]), 1.0)
        cols["bg_expected_spend"][rows] = np.where(
            b, purchases * np.maximum(spend, 0.0), float(p.get("cold_start", 0.0))
        )
    for c, v in cols.items():
        frame[c] = v
    return frame


def calendar_features(cutoffs: Iterable[dt.date], horizon_days: int) -> pd.DataFrame:
    """Calendar of each cutoff's label window (days ``cutoff + 1 .. cutoff + horizon``)."""
    rows = []
    for c in cutoffs:
        days = pd.date_range(c + dt.timedelta(days=1), periods=horizon_days, freq="D")
        mid = days[len(days) // 2]
        angle = 2 * np.pi * (mid.day_of_year - 1) / 365.25
        rows.append(
            {
                "cutoff": pd.Timestamp(c),
                "window_fri_sat": float(np.isin(days.day_of_week, (4, 5)).sum()),
                "window_december_days": float((days.month == 12).sum()),
                "window_season_sin": float(np.sin(angle)),
                "window_season_cos": float(np.cos(angle)),
            }
        )
    return pd.DataFrame(rows)


def _labels(
    con: duckdb.DuckDBPyConnection,
    ds: Dataset,
    cuts: list[dt.date],
    h: int,
    id_filter: str,
    frame: pd.DataFrame,
) -> np.ndarray:
    _, end = data_range(ds)
    late = [c for c in cuts if c + dt.timedelta(days=h) > end]
    if late:
        raise NotEnoughDataError(
            f"labels for cutoff {late[0]} need data up to {late[0] + dt.timedelta(days=h)}, "
            f"but the data ends on {end}"
        )
    # ml_pop.rn is the row of the frame (both ordered by cutoff, customer_id); buyers not yet signed up at
    # the cutoff are not in the population and drop out of the join
    part = con.execute(f"""
        SELECT p.rn, {_eur(f"SUM({_cents('t.total_amount')})")} AS label
        FROM ml_pop p JOIN transactions t
          ON t.customer_id = p.customer_id
         AND t.txn_ts >= CAST(p.cutoff + 1 AS TIMESTAMP) AND t.txn_ts < CAST(p.cutoff + {1 + h} AS TIMESTAMP)
        WHERE true{id_filter}
        GROUP BY 1
    """).fetchnumpy()
    y = np.zeros(len(frame))
    y[np.asarray(part["rn"], dtype=np.int64)] = np.asarray(part["label"], dtype=np.float64)
    return y


def _sequences(con: duckdb.DuckDBPyConnection, spec: FeatureSpec, frame: pd.DataFrame) -> pd.DataFrame:
    w = spec.sequence_weeks
    part = con.execute(f"""
        SELECT p.rn, CAST(datediff('day', d.d, p.cutoff) // 7 AS INTEGER) AS w,
               {_eur("SUM(d.spend)")} AS spend, CAST(SUM(d.txns) AS DOUBLE) AS txns
        FROM ml_pop p JOIN ml_daily d
          ON d.customer_id = p.customer_id AND d.d <= p.cutoff AND d.d > p.cutoff - {7 * w}
        GROUP BY 1, 2
    """).fetchnumpy()
    spend = np.zeros((len(frame), w), dtype=np.float32)
    txns = np.zeros((len(frame), w), dtype=np.float32)
    rows = np.asarray(part["rn"], dtype=np.int64)
    col = w - 1 - np.asarray(part["w"], dtype=np.int64)  # chronological: the last column is the cutoff's week
    spend[rows, col] = np.asarray(part["spend"], dtype=np.float32)
    txns[rows, col] = np.asarray(part["txns"], dtype=np.float32)
    return pd.DataFrame(
        np.concatenate([spend, txns], axis=1), columns=spec.sequence_columns, index=frame.index
    )


def _tiers(ds: Dataset, cuts: list[dt.date], spec: FeatureSpec) -> pd.DataFrame:
    """Loyalty tier rank of every known customer at each cutoff (with the rules fixed at training)."""
    from retailsim.loyalty import LoyaltyConfig, tiers_at

    cfg = LoyaltyConfig.model_validate(spec.loyalty_config) if spec.loyalty_config is not None else None
    f = tiers_at(ds, cuts, cfg, activity=_overlay_activity(ds))
    return pd.DataFrame({"cutoff": f["as_of"], "customer_id": f["customer_id"], "tier_rank": f["tier_rank"]})


def _overlay_activity(ds: Dataset) -> Any:
    """For a dataset with today's basket added, the loyalty activity of the dataset without it (cached) updated
    with the basket — the same arrays a full scan gives, in a fraction of the time; None otherwise."""
    from retailsim.loyalty.engine import load_activity, with_transactions
    from retailsim.ml.basket import OverlayDataset

    if not isinstance(ds, OverlayDataset) or set(ds.extra) - {"transactions", "transaction_lines"}:
        return None
    head = ds.extra.get("transactions")
    if head is None:
        return None
    return with_transactions(load_activity(ds.base), ds.base, head)


def _register_tiers(
    con: duckdb.DuckDBPyConnection, ds: Dataset, cuts: list[dt.date], spec: FeatureSpec
) -> None:
    tiers = _tiers(ds, cuts, spec)
    con.register("ml_tiers_df", tiers)
    con.execute(
        "CREATE TEMP TABLE ml_tiers AS SELECT CAST(cutoff AS DATE) AS cutoff, CAST(customer_id AS BIGINT) AS "
        "customer_id, CAST(tier_rank AS DOUBLE) AS tier_rank FROM ml_tiers_df"
    )
    con.unregister("ml_tiers_df")


def feature_report(spec: FeatureSpec) -> dict[str, Any]:
    """What a dataset's features are made of: groups used (with their columns) and groups left out (why)."""
    used = {g: GROUP_INDEX[g].description for g in spec.groups}
    if spec.stacks_bgnbd:
        used["bgnbd"] = (
            "BG/NBD + Gamma-Gamma expected purchase days, P(alive) and expected spend (parameters fitted on the "
            "history up to each cutoff; stacked)"
        )
    return {
        "used": used,
        "left_out": dict(spec.left_out),
        "numeric": spec.numeric,
        "categorical": spec.categorical,
    }
