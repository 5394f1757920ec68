"""Tiers as of a date (leakage-free, no stored history needed) and why a customer has their tier."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from retailsim.errors import RetailsimError
from retailsim.loyalty import engine, store
from retailsim.loyalty.config import LoyaltyConfig
from retailsim.storage.dataset import Dataset


def _config(ds: Dataset, config: LoyaltyConfig | None) -> LoyaltyConfig:
    if config is not None:
        return config
    return store.stored_config(ds) or LoyaltyConfig()


def tiers_at(
    ds: Dataset | str | Path,
    cutoffs: Sequence[dt.date | str],
    config: LoyaltyConfig | None = None,
    *,
    activity: engine.Activity | None = None,
) -> pd.DataFrame:
    """Every known customer's tier at each cut-off, from one pass over the reviews.

    Parameters
    ----------
    ds
        The dataset (folder).
    cutoffs
        As-of dates. The tier as of ``X`` is the result of the last review on or before ``X`` and uses only
        transactions with ``txn_ts < X + 1 day``.
    config
        The rules. Default: those stored with the dataset's tier history, else the defaults.
    activity
        The dataset's activity when the caller already has it (default: :func:`~.engine.load_activity`,
        cached).

    Returns
    -------
    pandas.DataFrame
        ``as_of`` (datetime64), ``customer_id`` (int64), ``tier`` (str), ``tier_rank`` (int8, 0 = base);
        one row per customer known at ``as_of`` (signed up or bought by then), sorted by ``as_of``, id.
    """
    ds = store._as_dataset(ds)
    cfg = _config(ds, config)
    dates = sorted({engine.to_date(c) for c in cutoffs})
    if not dates:
        return pd.DataFrame(
            {
                "as_of": pd.Series([], dtype="datetime64[s]"),
                "customer_id": pd.Series([], dtype="int64"),
                "tier": pd.Series([], dtype=object),
                "tier_rank": pd.Series([], dtype="int8"),
            }
        )
    act = activity if activity is not None else engine.load_activity(ds)
    reviews, states = _review_states(ds, act, cfg, dates[-1])
    parts = []
    for d in dates:
        k = int(np.searchsorted(np.asarray(reviews, dtype="datetime64[D]"), np.datetime64(d, "D"), "right"))
        held = states[k - 1] if k > 0 else np.full(act.n, -1, np.int8)
        known = act.activity_day <= engine.day_number(d)
        f = engine.tiers_frame(act, np.where(known, np.maximum(held, 0), -1), cfg)
        f.insert(0, "as_of", pd.Timestamp(d))
        parts.append(f)
    return pd.concat(parts, ignore_index=True)


def _review_states(
    ds: Dataset, act: engine.Activity, cfg: LoyaltyConfig, upto: dt.date
) -> tuple[list[dt.date], list[np.ndarray]]:
    """Every customer's tier after each review up to ``upto`` (cached per dataset content and rules).

    The state after the review of ``D`` depends only on transactions up to ``D``, so states computed once
    up to a later date serve every earlier cut-off unchanged.
    """
    key = (*engine.dataset_key(ds), cfg.digest())
    with engine._CACHE_LOCK:
        hit = engine._STATES.get(key)
        if hit is not None and hit[0] >= upto:
            engine._STATES.move_to_end(key)
            return hit[1], hit[2]
    start = engine.programme_start(cfg, act)
    to = max(upto, start, act.data_end or upto, hit[0] if hit else upto)
    reviews = engine.review_dates(cfg, start, to)
    sim = engine.simulate(act, cfg, start=start, to=to, snapshots=reviews, events=False)
    states = [sim.snapshots[r] for r in reviews]
    with engine._CACHE_LOCK:
        engine._STATES[key] = (to, reviews, states)
        while len(engine._STATES) > 4:
            engine._STATES.popitem(last=False)
    return reviews, states


def tiers_as_of(
    ds: Dataset | str | Path,
    as_of: dt.date | str,
    config: LoyaltyConfig | None = None,
) -> pd.DataFrame:
    """Every known customer's loyalty tier as of a date, computed only from data up to that date.

    Replays the programme's reviews up to ``as_of`` from the transactions (no stored history is read or
    needed), so it is safe as a model feature at a cut-off: it uses only transactions with
    ``txn_ts < as_of + 1 day``. The dataset's monthly activity is scanned once and cached, so calls at many
    cut-offs of the same dataset are fast; :func:`tiers_at` does many cut-offs in one pass.

    Parameters
    ----------
    ds
        A :class:`~retailsim.storage.dataset.Dataset` or its folder (generated or imported).
    as_of
        The cut-off date (``date`` or ``"YYYY-MM-DD"``); the tier is that of the last review on or before it.
    config
        The rules. Default: those stored with the dataset's tier history, else :class:`LoyaltyConfig`
        defaults.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (int64), ``tier`` (str), ``tier_rank`` (int8, 0 = base tier): one row per customer
        known at ``as_of`` (signup or first purchase on or before it), sorted by ``customer_id``. New
        customers and customers without purchases are at the base tier.

    Examples
    --------
    >>> from retailsim.loyalty import tiers_as_of
    >>> tiers_as_of("data/demo", "2025-03-31").head()      # doctest: +SKIP
    """
    f = tiers_at(ds, [as_of], config)
    return f.drop(columns="as_of").reset_index(drop=True)


# ---------------------------------------------------------------------------------- explain
@dataclass
class Explanation:
    """Why a customer has their tier as of a date.

    Attributes
    ----------
    tier, tier_rank
        The tier as of :attr:`as_of` (replayed from the transactions with the same rules).
    since, change
        Start and cause of the current spell (from the stored history when there is one).
    last_review
        The latest review on or before ``as_of`` and the customer's metrics then (``window_spend``,
        ``window_visits``, ``avg_monthly_spend``, ``rank_share_above``, ``qualified_rank``, ``below_since``).
    next_tier
        What it takes to reach the next tier (threshold mode), else ``None``.
    downgrade
        When the customer no longer qualifies: since when, and the first review that may downgrade them.
    history
        The customer's stored spells (empty without a stored history).
    stale
        The stored history disagrees with the replay (the data changed since; run ``assign``).
    """

    customer_id: int
    as_of: dt.date
    config: LoyaltyConfig
    tier: str
    tier_rank: int
    since: dt.date | None
    change: str | None
    reason: str | None
    last_review: dict[str, object] | None
    next_tier: str | None
    downgrade: str | None
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    stale: bool = False
    reviews: list[dict[str, object]] = field(default_factory=list)

    def summary(self) -> list[str]:
        """The explanation as lines of text."""
        cfg = self.config
        out = [f"customer {self.customer_id}: {self.tier} as of {self.as_of}"]
        if self.since is not None:
            out.append(f"since {self.since}: {self.reason}")
        lr = self.last_review
        if lr is None:
            out.append("no review yet on or before that date: new members start at the base tier")
        else:
            if cfg.mode == "threshold":
                m = (
                    f"last review {lr['review_date']}: net spend {lr['window_spend']:,.2f} and "
                    f"{lr['window_visits']} visits over {cfg.window_months} months"
                )
            else:
                share = lr["rank_share_above"]
                m = (
                    f"last review {lr['review_date']}: average monthly spend {lr['avg_monthly_spend']:,.2f} "
                    f"over {cfg.window_months} months"
                    + (f", {100 * float(share):.1f}% of customers ranked above" if share is not None else "")
                )
            q = int(lr["qualified_rank"])  # type: ignore[call-overload]
            out.append(f"{m} → qualifies for {cfg.tier_names[q]} ({cfg.rule_text(q)})")
        if self.downgrade:
            out.append(self.downgrade)
        if self.next_tier:
            out.append(self.next_tier)
        if self.stale:
            out.append(
                "note: the stored history differs from a replay of the current data; run "
                "`retailsim loyalty assign` to update it"
            )
        return out


def explain(
    ds: Dataset | str | Path,
    customer_id: int,
    as_of: dt.date | str | None = None,
    config: LoyaltyConfig | None = None,
) -> Explanation:
    """Explain a customer's tier as of a date: rule, metrics at the last review, grace status, history.

    Parameters
    ----------
    ds
        The dataset (folder).
    customer_id
        The customer.
    as_of
        Default: the end of the stored history, else the last day with a transaction.
    config
        The rules. Default: those stored with the history, else the defaults.

    Raises
    ------
    RetailsimError
        When the customer is unknown or not yet known at ``as_of``.
    """
    ds = store._as_dataset(ds)
    cfg = _config(ds, config)
    meta = store.read_meta(ds)
    act = engine.load_activity(ds)
    pos = act.index_of(np.array([customer_id], np.int64))[0]
    if pos < 0:
        raise RetailsimError(f"unknown customer {customer_id} in {ds.path}")
    if as_of is not None:
        d = engine.to_date(as_of)
    elif meta is not None:
        d = dt.date.fromisoformat(meta["to"])
    else:
        d = store._target(act, None)
    if act.activity_day[pos] > engine.day_number(d):
        raise RetailsimError(
            f"customer {customer_id} is not known yet on {d} (no signup or purchase by then)"
        )
    start = engine.programme_start(cfg, act)
    sim = engine.simulate(
        act, cfg, start=start, to=max(d, start), snapshots=[d], events=False, trace_customer=int(pos)
    )
    rank = int(sim.snapshots[d][pos])
    reviews = [r for r in sim.trace.rows if r["review_date"] <= d] if sim.trace else []  # type: ignore[operator]
    last = reviews[-1] if reviews else None

    history = pd.DataFrame()
    since = change = reason = None
    stale = False
    if meta is not None and (config is None or cfg.digest() == meta.get("config_digest")):
        h = store._read_history_pl(ds).filter(pl.col("customer_id") == customer_id).sort("valid_from")
        cur = h.filter(
            (pl.col("valid_from") <= d) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > d))
        )
        if cur.height:
            row = cur.row(-1, named=True)
            since, change, reason = row["valid_from"], row["change"], row["reason"]
            stale = int(row["tier_rank"]) != rank
        elif d <= dt.date.fromisoformat(meta["to"]):
            stale = True
        history = h.to_pandas()

    next_txt = None
    if last is not None and cfg.mode == "threshold" and rank + 1 < len(cfg.tiers):
        t = cfg.tiers[rank + 1]
        needs = []
        if t.min_spend is not None:
            gap = t.min_spend - float(last["window_spend"])  # type: ignore[arg-type]
            needs.append(f"{max(gap, 0):,.2f} more spend (≥ {t.min_spend:,.2f})")
        if t.min_visits is not None:
            vgap = t.min_visits - int(last["window_visits"])  # type: ignore[call-overload]
            needs.append(f"{max(vgap, 0)} more visits (≥ {t.min_visits})")
        joiner = " or " if cfg.combine == "any" else " and "
        next_txt = f"next tier {t.name}: needs {joiner.join(needs)} over the {cfg.window_months}-month window"
    elif last is not None and cfg.mode == "rank" and rank + 1 < len(cfg.tiers):
        next_txt = f"next tier {cfg.tier_names[rank + 1]}: {cfg.rule_text(rank + 1)}"

    down_txt = None
    if last is not None and last["below_since"] is not None and int(last["qualified_rank"]) < rank:  # type: ignore[call-overload]
        b = last["below_since"]
        assert isinstance(b, dt.date)
        earliest = engine.month_end(engine.month_index(b) + cfg.grace_months)
        nxt = [r for r in engine.review_dates(cfg, earliest, earliest + dt.timedelta(days=400)) if r > d]
        when = nxt[0] if nxt else earliest
        down_txt = (
            f"below {cfg.tier_names[rank]} since the review of {b}; grace period {cfg.grace_months} months: "
            f"drops one tier at the review of {when} unless they qualify again"
        )

    return Explanation(
        customer_id=int(customer_id),
        as_of=d,
        config=cfg,
        tier=cfg.tier_names[max(rank, 0)],
        tier_rank=max(rank, 0),
        since=since,
        change=change,
        reason=reason,
        last_review=last,
        next_tier=next_txt,
        downgrade=down_txt,
        history=history,
        stale=stale,
        reviews=reviews,
    )
