"""The review engine: monthly activity from DuckDB, then every review vectorised over all customers.

How it works
------------
1. One DuckDB query turns the transactions into per (customer, calendar month) activity: net spend in
   integer cents, baskets, shopping days, first purchase day. Customers come from the ``customers`` table
   (signup date) and from the transactions (imported logs may have nothing else). The result is cached per
   dataset (keyed by the manifest's file checksums), so many cut-offs cost one scan.
2. Reviews fall on month ends at the configured cadence. At each review, the rolling-window metrics of every
   customer are ``numpy.bincount`` sums over the months of the window (the activity is sorted by month, so
   a window is one contiguous slice); qualification and the grace / one-step-down rules are array
   operations. The only Python loop is over reviews (18 for 18 months), never over customers.
3. Spells start where the tier changes; they become the slowly changing dimension written by
   :mod:`retailsim.loyalty.store`.

Timing convention: a review dated ``D`` (a month end) sees every transaction up to and including day ``D``
(``txn_ts < D + 1 day``) and its tier holds from ``D``. The tier *as of* a date ``X`` is the result of the
last review on or before ``X``: it never uses a transaction after ``X``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from retailsim.errors import DatasetError, RetailsimError
from retailsim.loyalty.config import LoyaltyConfig
from retailsim.storage.dataset import Dataset

EPOCH = dt.date(1970, 1, 1)
ENROL, UPGRADE, DOWNGRADE = 0, 1, 2
CHANGE_NAMES = ("enrol", "upgrade", "downgrade")
NO_DAY = np.iinfo(np.int32).max  # "never" in day arithmetic


# ---------------------------------------------------------------------------------------- dates
def to_date(value: dt.date | dt.datetime | str | pd.Timestamp) -> dt.date:
    """A calendar date from a date, datetime, ``YYYY-MM-DD`` string or pandas Timestamp."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):  # ISO 8601 only: 01/02/2024 is ambiguous
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            try:
                return dt.datetime.fromisoformat(value.strip()).date()
            except ValueError:
                raise RetailsimError(f"not a date: {value!r} (expected YYYY-MM-DD)") from None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise RetailsimError(f"not a date: {value!r} (expected YYYY-MM-DD)") from None


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def day_date(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def month_index(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def month_end(mi: int) -> dt.date:
    y, m = divmod(mi + 1, 12)  # first day of the next month
    return dt.date(y, m + 1, 1) - dt.timedelta(days=1)


def review_dates(config: LoyaltyConfig, start: dt.date, to: dt.date) -> list[dt.date]:
    """Review dates of the programme started at ``start``, up to and including ``to``.

    Reviews fall on month ends; with a cadence of ``k`` months on the ends of the months whose number is a
    multiple of ``k`` (quarterly: March, June, September, December).
    """
    k = config.cadence_months
    out = []
    mi = month_index(start)
    while True:
        d = month_end(mi)
        if d > to:
            return out
        if (mi % 12 + 1) % k == 0 and d >= start:
            out.append(d)
        mi += 1


# ------------------------------------------------------------------------------------ activity
@dataclass(frozen=True)
class Activity:
    """Everything the reviews need from a dataset, as arrays (customers sorted by id).

    ``rows_*`` are the non-empty (customer, month) cells sorted by month; ``month_lo[m - month0]`` is the
    first row of month ``m`` so a window of months is a slice.
    """

    customer_id: np.ndarray  # int64 (n,)
    activity_day: np.ndarray  # int32 (n,): min(signup, first purchase) as a day number
    row_customer: np.ndarray  # int32 (nnz,): index into customer_id
    row_month: np.ndarray  # int32 (nnz,)
    row_spend: np.ndarray  # float64 (nnz,): net spend in integer cents (exact in float64)
    row_days: np.ndarray  # int32 (nnz,)
    row_txns: np.ndarray  # int32 (nnz,)
    month0: int
    month_lo: np.ndarray  # int64 (n_months + 1,)
    data_start: dt.date | None
    data_end: dt.date | None
    source: str = ""

    @property
    def n(self) -> int:
        return len(self.customer_id)

    def window(self, first_month: int, last_month: int, visits: str) -> tuple[np.ndarray, np.ndarray]:
        """Net spend (cents) and visits of every customer over the months ``first..last`` (inclusive)."""
        n_months = len(self.month_lo) - 1
        a = int(np.clip(first_month - self.month0, 0, n_months))
        b = int(np.clip(last_month + 1 - self.month0, 0, n_months))
        lo, hi = int(self.month_lo[a]), int(self.month_lo[b])
        idx = self.row_customer[lo:hi]
        spend = np.bincount(idx, weights=self.row_spend[lo:hi], minlength=self.n)
        v = self.row_days if visits == "days" else self.row_txns
        visits_ = np.bincount(idx, weights=v[lo:hi], minlength=self.n)
        return np.rint(spend).astype(np.int64), np.rint(visits_).astype(np.int64)

    def index_of(self, customer_ids: np.ndarray) -> np.ndarray:
        """Positions of ``customer_ids`` in :attr:`customer_id` (-1 where absent)."""
        customer_ids = np.asarray(customer_ids, np.int64)
        if not self.n:
            return np.full(len(customer_ids), -1, np.int64)
        pos = np.clip(np.searchsorted(self.customer_id, customer_ids), 0, self.n - 1)
        return np.where(self.customer_id[pos] == customer_ids, pos, -1)


_ACTIVITY_SQL = """
WITH daily AS (
    SELECT customer_id,
           CAST(txn_ts AS DATE) AS day,
           sum(round(total_amount * 100)) AS cents,
           count(*) FILTER (WHERE total_amount > 0) AS txns
    FROM transactions
    WHERE customer_id IS NOT NULL AND txn_ts IS NOT NULL AND total_amount IS NOT NULL
    GROUP BY ALL
)
SELECT customer_id,
       (year(day) * 12 + month(day) - 1)::INTEGER AS m,
       sum(cents)::DOUBLE AS spend_cents,
       sum(txns)::INTEGER AS txns,
       (count(*) FILTER (WHERE txns > 0))::INTEGER AS shop_days,
       (min(day) - DATE '1970-01-01')::INTEGER AS first_day
FROM daily
GROUP BY ALL
ORDER BY m, customer_id
"""

_CACHE: OrderedDict[tuple[str, str], Activity] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()
# tiers after every review, per (dataset, rules): (simulated up to, review dates, tier rank arrays)
_STATES: OrderedDict[tuple[str, str, str], tuple[dt.date, list[dt.date], list[np.ndarray]]] = OrderedDict()


def dataset_key(ds: Dataset) -> tuple[str, str]:
    """Identity of a dataset's content: its folder and a digest of the manifest's file checksums."""
    files = json.dumps(ds.manifest.get("files", []), sort_keys=True).encode("utf-8")
    return str(ds.path.resolve()), hashlib.sha256(files).hexdigest()


def clear_cache() -> None:
    """Forget every cached dataset activity (tests, long-running services)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _STATES.clear()


def load_activity(ds: Dataset, *, cache: bool = True) -> Activity:
    """Monthly activity of every customer of ``ds`` (one DuckDB scan; cached per dataset content).

    Raises
    ------
    DatasetError
        When the dataset has no transactions table.
    """
    key = dataset_key(ds)
    if cache:
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
    act = _compute_activity(ds)
    if cache:
        with _CACHE_LOCK:
            _CACHE[key] = act
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return act


def with_transactions(act: Activity, ds: Dataset, rows: pa.Table) -> Activity | None:
    """``act`` — the activity of ``ds`` — as if the transactions ``rows`` had been added to ``ds``.

    Exactly what :func:`load_activity` of the extended dataset computes, without rescanning every
    transaction: the (customer, month) cells the rows fall in are updated; to count shop days exactly, each
    (customer, day) the rows touch is looked up in ``ds`` (one small query, pruned to the customer's files by
    the Parquet statistics). Used for "today's basket" in live predictions. Returns None (compute it in
    full) when a row's customer is not in ``act``.
    """
    everything = rows.select(["customer_id", "txn_ts", "total_amount"]).to_pandas()
    dated = everything.dropna(subset=["customer_id", "txn_ts"])
    frame = dated.dropna(subset=["total_amount"]).copy()
    if frame.empty:
        return None if len(dated) else act
    frame["day"] = pd.to_datetime(frame["txn_ts"]).dt.date
    x = frame["total_amount"].to_numpy(np.float64) * 100
    frame["cents"] = np.sign(x) * np.floor(np.abs(x) + 0.5)  # DuckDB's round(): half away from zero
    frame["txns"] = (frame["total_amount"] > 0).astype(np.int64)
    cells = frame.groupby(["customer_id", "day"], as_index=False)[["cents", "txns"]].sum()
    idx = act.index_of(cells["customer_id"].to_numpy(np.int64))
    if (idx < 0).any():
        return None
    customer = act.customer_id
    row_customer, row_month = act.row_customer.copy(), act.row_month.copy()
    row_spend, row_days, row_txns = act.row_spend.copy(), act.row_days.copy(), act.row_txns.copy()
    activity_day = act.activity_day.copy()
    con = ds.connect()
    try:
        for (cid, day, cents, txns), i in zip(cells.itertuples(index=False), idx, strict=True):
            before = con.execute(
                "SELECT count(*) FILTER (WHERE total_amount > 0) FROM transactions WHERE customer_id = ? "
                "AND txn_ts >= ? AND txn_ts < ? AND total_amount IS NOT NULL",
                [int(cid), day, day + dt.timedelta(days=1)],
            ).fetchone()
            had_txn = bool(before and before[0])
            new_day = int(not had_txn and txns > 0)
            m = month_index(day)
            key = row_month.astype(np.int64) * len(customer) + row_customer
            k = int(np.searchsorted(key, m * len(customer) + int(i)))
            if k < len(key) and key[k] == m * len(customer) + int(i):
                row_spend[k] += cents
                row_txns[k] += txns
                row_days[k] += new_day
            else:
                row_customer = np.insert(row_customer, k, np.int32(i))
                row_month = np.insert(row_month, k, np.int32(m))
                row_spend = np.insert(row_spend, k, float(cents))
                row_days = np.insert(row_days, k, np.int32(new_day))
                row_txns = np.insert(row_txns, k, np.int32(txns))
            activity_day[i] = min(int(activity_day[i]), day_number(day))
    finally:
        con.close()
    month0 = int(row_month[0]) if len(row_month) else 0
    n_months = (int(row_month[-1]) if len(row_month) else 0) - month0 + 1
    month_lo = np.searchsorted(row_month, np.arange(month0, month0 + n_months + 1)).astype(np.int64)
    data_start, data_end = act.data_start, act.data_end
    if ds.config is None:  # imported: the bounds are those of the transactions
        days = list(cells["day"])
        data_start = min([*days, *([data_start] if data_start else [])])
        data_end = max([*days, *([data_end] if data_end else [])])
    return Activity(
        customer_id=customer,
        activity_day=activity_day,
        row_customer=row_customer,
        row_month=row_month,
        row_spend=row_spend,
        row_days=row_days,
        row_txns=row_txns,
        month0=month0,
        month_lo=month_lo,
        data_start=data_start,
        data_end=data_end,
        source=act.source,
    )


def _compute_activity(ds: Dataset) -> Activity:
    if not ds.has("transactions"):
        raise DatasetError(f"{ds.path}: loyalty needs a transactions table; this dataset has none")
    for col in ("customer_id", "txn_ts", "total_amount"):
        if not ds.has_column("transactions", col):
            raise DatasetError(f"{ds.path}: loyalty needs transactions.{col}, which this dataset lacks")
    con = ds.connect()
    try:
        cells = con.sql(_ACTIVITY_SQL).pl()
        bounds = con.sql(
            "SELECT min(txn_ts)::DATE, max(txn_ts)::DATE FROM transactions WHERE customer_id IS NOT NULL"
        ).fetchall()[0]
        if ds.has("customers") and ds.has_column("customers", "signup_date"):
            customers = con.sql(
                "SELECT customer_id, (signup_date - DATE '1970-01-01')::INTEGER AS signup_day "
                "FROM customers WHERE customer_id IS NOT NULL"
            ).pl()
        elif ds.has("customers"):
            customers = con.sql(
                "SELECT customer_id, NULL::INTEGER AS signup_day FROM customers WHERE customer_id IS NOT NULL"
            ).pl()
        else:
            customers = pl.DataFrame(
                {"customer_id": [], "signup_day": []},
                schema={"customer_id": pl.Int64, "signup_day": pl.Int32},
            )
    finally:
        con.close()
    first_buy = cells.group_by("customer_id").agg(pl.col("first_day").min())
    people = (
        customers.select(pl.col("customer_id").cast(pl.Int64), pl.col("signup_day").cast(pl.Int32))
        .group_by("customer_id")
        .agg(pl.col("signup_day").min())
        .join(
            first_buy.with_columns(pl.col("customer_id").cast(pl.Int64)),
            on="customer_id",
            how="full",
            coalesce=True,
        )
        .with_columns(
            pl.min_horizontal("signup_day", "first_day")
            .fill_null(NO_DAY)
            .cast(pl.Int32)
            .alias("activity_day")
        )
        .sort("customer_id")
    )
    customer_id = people["customer_id"].to_numpy().astype(np.int64)
    activity_day = people["activity_day"].to_numpy().astype(np.int32)

    row_customer = np.searchsorted(customer_id, cells["customer_id"].to_numpy().astype(np.int64)).astype(
        np.int32
    )
    row_month = cells["m"].to_numpy().astype(np.int32)
    if len(row_month):
        month0, month1 = int(row_month[0]), int(row_month[-1])
    else:
        month0 = month1 = 0
    n_months = month1 - month0 + 1
    month_lo = np.searchsorted(row_month, np.arange(month0, month0 + n_months + 1)).astype(np.int64)

    data_start, data_end = (bounds[0], bounds[1]) if bounds else (None, None)
    if ds.config is not None:  # a generated dataset: the simulated horizon is known
        data_start = ds.config.horizon.start
        data_end = ds.config.horizon.end - dt.timedelta(days=1)
    return Activity(
        customer_id=customer_id,
        activity_day=activity_day,
        row_customer=row_customer,
        row_month=row_month,
        row_spend=cells["spend_cents"].to_numpy().astype(np.float64),
        row_days=cells["shop_days"].to_numpy().astype(np.int32),
        row_txns=cells["txns"].to_numpy().astype(np.int32),
        month0=month0,
        month_lo=month_lo,
        data_start=data_start,
        data_end=data_end,
        source=str(ds.path),
    )


def programme_start(config: LoyaltyConfig, act: Activity) -> dt.date:
    """The configured start, else the first day of the data."""
    if config.start is not None:
        return config.start
    if act.data_start is None:
        raise DatasetError(f"{act.source}: no transactions with a customer; cannot start a loyalty programme")
    return act.data_start


# ------------------------------------------------------------------------------------ reviews
@dataclass
class State:
    """Per-customer programme state after the reviews up to :attr:`as_of` (aligned with an Activity).

    ``held``: tier rank, -1 = not enrolled yet; ``below``: month index of the first review of the current
    run of reviews below the held tier, -1 = none.
    """

    held: np.ndarray
    below: np.ndarray
    as_of: dt.date | None = None

    @classmethod
    def empty(cls, n: int) -> State:
        return cls(np.full(n, -1, np.int8), np.full(n, -1, np.int32))


@dataclass
class ReviewTrace:
    """One customer's metrics and decision at every review (for ``explain``)."""

    rows: list[dict[str, object]] = field(default_factory=list)


@dataclass
class SimResult:
    state: State
    reviews: list[dt.date]
    events: pl.DataFrame | None
    snapshots: dict[dt.date, np.ndarray]  # as-of date -> tier rank per customer (-1: unknown then)
    trace: ReviewTrace | None = None


def _qualify(
    config: LoyaltyConfig,
    spend: np.ndarray,
    visits: np.ndarray,
    known: np.ndarray,
    tenure: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Qualified tier rank of every customer, average monthly spend (cents) and share ranked above."""
    n = len(spend)
    q = np.zeros(n, np.int8)
    avg = spend / np.maximum(tenure, 1)
    share_above = np.full(n, np.nan)
    if config.mode == "threshold":
        for rank, t in enumerate(config.tiers[1:], start=1):
            conds = []
            if t.min_spend is not None:
                conds.append(spend >= round(t.min_spend * 100))
            if t.min_visits is not None:
                conds.append(visits >= t.min_visits)
            ok = np.logical_or.reduce(conds) if config.combine == "any" else np.logical_and.reduce(conds)
            q[ok] = rank
    else:
        kv = np.sort(avg[known])
        n_known = len(kv)
        if n_known:
            greater = n_known - np.searchsorted(kv, avg, side="right")
            share_above = greater / n_known
            cum = 0.0
            shares = config.rank_shares
            assigned = np.zeros(n, bool)
            for rank in range(len(config.tiers) - 1, 0, -1):
                cum += shares[rank - 1]
                hit = ~assigned & (greater < cum * n_known - 1e-9) & (avg > 0)
                q[hit] = rank
                assigned |= hit
    q[~known] = 0
    return q, avg, share_above


def simulate(
    act: Activity,
    config: LoyaltyConfig,
    *,
    start: dt.date,
    to: dt.date,
    init: State | None = None,
    snapshots: Sequence[dt.date] = (),
    events: bool = True,
    trace_customer: int | None = None,
) -> SimResult:
    """Run every review of the programme in ``(init.as_of, to]`` (all from ``start`` without ``init``).

    Parameters
    ----------
    act
        Monthly activity of the dataset.
    config
        The rules.
    start
        Programme start: customers known then enrol at the base tier; the first review is on or after it.
    to
        Last day of the run: reviews up to it, and customers known by then enrol.
    init
        Continue from this state (an incremental run) instead of an empty programme.
    snapshots
        Dates at which to record every customer's tier (``tiers_as_of`` / ``tiers_at``).
    events
        Collect the spells (rows of the history); off for snapshots only.
    trace_customer
        Index of one customer whose metrics to record at every review.
    """
    n = act.n
    state = init if init is not None else State.empty(n)
    held, below = state.held.copy(), state.below.copy()
    after = state.as_of
    reviews = [d for d in review_dates(config, start, to) if after is None or d > after]
    start_day = day_number(start)
    enrol_day = np.maximum(act.activity_day, start_day)  # NO_DAY stays NO_DAY
    start_month = month_index(start)
    act_month = np.full(n, start_month, np.int32)
    has_act = act.activity_day != NO_DAY
    if has_act.any():
        act_month[has_act] = (
            act.activity_day[has_act].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
            + 1970 * 12
        ).astype(np.int32)
    first_member_month = np.maximum(act_month, start_month)

    pending_snaps = sorted({to_date(s) for s in snapshots})
    snaps: dict[dt.date, np.ndarray] = {}
    ev: list[dict[str, np.ndarray]] = []
    tr = ReviewTrace() if trace_customer is not None else None
    W, grace, max_down = config.window_months, config.grace_months, config.max_down_per_review

    def snapshot_until(limit: dt.date | None) -> None:
        while pending_snaps and (limit is None or pending_snaps[0] < limit):
            s = pending_snaps.pop(0)
            known_s = act.activity_day <= day_number(s)
            snaps[s] = np.where(known_s, np.maximum(held, 0), -1).astype(np.int8)

    def emit(mask: np.ndarray, **cols: np.ndarray | int | float | None) -> None:
        idx = np.flatnonzero(mask)
        if not events or not len(idx):
            return
        row: dict[str, np.ndarray] = {"ci": idx}
        for k, v in cols.items():
            if isinstance(v, np.ndarray):
                row[k] = v[idx]
            else:
                row[k] = np.full(len(idx), np.nan if v is None else v)
        ev.append(row)

    for d in reviews:
        snapshot_until(d)
        dn_, mk = day_number(d), month_index(d)
        # enrol everyone known by now who was not: at the base tier from their enrolment day
        newly = (held < 0) & (enrol_day <= dn_)
        early = newly & (enrol_day < dn_)
        same_day = newly & ~early
        emit(
            early,
            valid_from=enrol_day.astype(np.float64),
            tier=0,
            change=ENROL,
            review=None,
        )
        held[early] = 0
        below[early] = -1
        known = held >= 0
        known |= same_day
        spend, visits = act.window(mk - W + 1, mk, config.visits)
        tenure = np.clip(mk - first_member_month + 1, 1, W)
        q, avg, share = _qualify(config, spend, visits, known, tenure)
        metrics = {
            "spend": spend.astype(np.float64),
            "visits": visits.astype(np.float64),
            "avg": avg,
            "share": share,
            "qualified": q.astype(np.float64),
        }
        # new customers enrolled on the review day itself: the review places them directly
        emit(
            same_day,
            valid_from=dn_,
            tier=q.astype(np.float64),
            change=ENROL,
            review=dn_,
            below=None,
            **metrics,
        )
        held[same_day] = q[same_day]
        below[same_day] = -1
        existing = known & ~same_day
        up = existing & (q > held)
        emit(up, valid_from=dn_, tier=q.astype(np.float64), change=UPGRADE, review=dn_, below=None, **metrics)
        stay = existing & (q >= held)
        held[up] = q[up]
        below[stay] = -1
        low = existing & (q < held)
        below[low & (below < 0)] = mk
        go = low & (mk - below >= grace)
        new_tier = np.maximum(q.astype(np.int16), held.astype(np.int16) - max_down).astype(np.int8)
        emit(
            go,
            valid_from=dn_,
            tier=new_tier.astype(np.float64),
            change=DOWNGRADE,
            review=dn_,
            below=_below_days(below),
            **metrics,
        )
        held[go] = new_tier[go]
        below[go & (q >= held)] = -1
        if tr is not None and trace_customer is not None:
            c = trace_customer
            tr.rows.append(
                {
                    "review_date": d,
                    "known": bool(known[c]),
                    "window_spend": spend[c] / 100,
                    "window_visits": int(visits[c]),
                    "avg_monthly_spend": float(avg[c]) / 100,
                    "rank_share_above": None if np.isnan(share[c]) else float(share[c]),
                    "qualified_rank": int(q[c]),
                    "held_rank": int(held[c]),
                    "below_since": month_end(int(below[c])) if below[c] >= 0 else None,
                }
            )
    snapshot_until(None if not pending_snaps else max(pending_snaps) + dt.timedelta(days=1))
    # customers known after the last review (up to `to`) enrol at the base tier
    late = (held < 0) & (enrol_day <= day_number(to))
    emit(late, valid_from=enrol_day.astype(np.float64), tier=0, change=ENROL, review=None)
    held[late] = 0
    below[late] = -1
    return SimResult(
        state=State(held, below, to),
        reviews=reviews,
        events=_events_frame(ev, act) if events else None,
        snapshots=snaps,
        trace=tr,
    )


def _below_days(below: np.ndarray) -> np.ndarray:
    """Month indices (-1 = none) to the day numbers of those months' ends (NaN = none)."""
    out = np.full(len(below), np.nan)
    ok = below >= 0
    if ok.any():
        months = below[ok].astype(np.int64) - 1970 * 12 + 1  # the month after, as datetime64[M]
        out[ok] = (months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1).astype(
            np.float64
        )
    return out


_EVENT_COLS = (
    "valid_from",
    "tier",
    "change",
    "review",
    "spend",
    "visits",
    "avg",
    "share",
    "qualified",
    "below",
)


def _events_frame(ev: list[dict[str, np.ndarray]], act: Activity) -> pl.DataFrame:
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("ci", *_EVENT_COLS)}
    for row in ev:
        m = len(row["ci"])
        for k in cols:
            cols[k].append(row[k] if k in row else np.full(m, np.nan))
    data = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
    ci = data.pop("ci").astype(np.int64)
    return pl.DataFrame(
        {
            "customer_id": act.customer_id[ci] if len(ci) else np.zeros(0, np.int64),
            **{k: pl.Series(k, v, dtype=pl.Float64, nan_to_null=True) for k, v in data.items()},
        }
    )


def history_frame(events: pl.DataFrame, config: LoyaltyConfig) -> pl.DataFrame:
    """Spells from events: typed columns of the ``tier_history`` table, ``valid_to`` from the next spell."""

    def day(col: str) -> pl.Expr:
        return pl.col(col).cast(pl.Int32).cast(pl.Date)

    df = events.select(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("tier").cast(pl.Int32).alias("tier_rank"),
        day("valid_from").alias("valid_from"),
        pl.col("change").cast(pl.Int32).alias("change_code"),
        day("review").alias("review_date"),
        (pl.col("spend") / 100).round(2).alias("window_spend"),
        pl.col("visits").cast(pl.Int32).alias("window_visits"),
        (pl.col("avg") / 100).round(2).alias("avg_monthly_spend"),
        pl.col("share").alias("rank_share_above"),
        pl.col("qualified").cast(pl.Int32).alias("qualified_rank"),
        day("below").alias("below_since"),
    )
    return finish_history(df, config)


def finish_history(df: pl.DataFrame, config: LoyaltyConfig) -> pl.DataFrame:
    """Sort spells, derive ``valid_to``, tier names and the reason text; columns in schema order.

    ``df`` holds the spells' ``customer_id, tier_rank, valid_from, change_code, review_date, window_spend,
    window_visits, avg_monthly_spend, rank_share_above, qualified_rank, below_since``.
    """
    from retailsim.schema import TIER_HISTORY

    idx = dict(enumerate(config.tier_names))
    df = df.sort("customer_id", "valid_from")
    same_customer = pl.col("customer_id").shift(-1) == pl.col("customer_id")
    df = df.with_columns(
        pl.when(same_customer).then(pl.col("valid_from").shift(-1)).alias("valid_to"),
        pl.col("tier_rank").replace_strict(idx, return_dtype=pl.String).alias("tier"),
        pl.col("qualified_rank")
        .replace_strict(idx, default=None, return_dtype=pl.String)
        .alias("qualified_tier"),
        pl.col("change_code")
        .replace_strict(dict(enumerate(CHANGE_NAMES)), return_dtype=pl.String)
        .alias("change"),
        pl.lit(config.mode).alias("mode"),
    )
    df = df.with_columns(_reason_expr(config).alias("reason"))
    return df.select(TIER_HISTORY.column_names)


def _money(col: str) -> pl.Expr:
    """``1234.5`` → ``"1234.50"`` (two decimals, sign kept)."""
    cents = (pl.col(col) * 100).round(0).cast(pl.Int64)
    a = cents.abs()
    return pl.format(
        "{}{}.{}",
        pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (a // 100).cast(pl.String),
        (a % 100).cast(pl.String).str.zfill(2),
    )


def _reason_expr(config: LoyaltyConfig) -> pl.Expr:
    w = config.window_months
    spend = _money("window_spend")
    visits = pl.col("window_visits").cast(pl.String)
    if config.mode == "threshold":
        metrics = pl.format("net spend {} and {} visits over {} months", spend, visits, pl.lit(w))
    else:
        metrics = pl.format(
            "average monthly spend {} over {} months, {}% of customers ranked above",
            _money("avg_monthly_spend"),
            pl.lit(w),
            (pl.col("rank_share_above") * 100).round(1).cast(pl.String),
        )
    rules = pl.col("tier_rank").replace_strict(
        {i: config.rule_text(i) for i in range(len(config.tiers))}, return_dtype=pl.String
    )
    return (
        pl.when(pl.col("review_date").is_null())
        .then(pl.lit(f"enrolled: new members start at the base tier ({config.base_tier})"))
        .when(pl.col("change") == "downgrade")
        .then(
            pl.format(
                "downgrade: {} qualify only for {} since the review of {}; after a {}-month grace period, "
                "at most {} tier(s) down per review",
                metrics,
                pl.col("qualified_tier"),
                pl.col("below_since").cast(pl.String),
                pl.lit(config.grace_months),
                pl.lit(config.max_down_per_review),
            )
        )
        .otherwise(pl.format("{}: {} qualify for {} ({})", pl.col("change"), metrics, pl.col("tier"), rules))
    )


# ------------------------------------------------------------------------------ as-of lookups
def tiers_frame(act: Activity, tiers: np.ndarray, config: LoyaltyConfig) -> pd.DataFrame:
    """``customer_id, tier, tier_rank`` for the customers with a tier (rank >= 0), sorted by id."""
    keep = tiers >= 0
    rank = tiers[keep].astype(np.int8)
    names = np.asarray(config.tier_names, dtype=object)
    return pd.DataFrame(
        {
            "customer_id": act.customer_id[keep],
            "tier": names[rank],
            "tier_rank": rank,
        }
    )
