"""The tier history inside a dataset folder: ``loyalty/`` written as a whole and swapped in atomically.

Layout (the dataset's own ``manifest.json`` is never touched)::

    DATASET/loyalty/tier_history.parquet   the slowly changing dimension (schema: ``tier_history``)
    DATASET/loyalty/state.parquet          programme state after the last run (for incremental runs)
    DATASET/loyalty/loyalty.json           rules, reviews, tier mix, input fingerprints, file checksums

Runs:

* :func:`replay` recomputes every review from the programme start to a date.
* :func:`assign` brings the history up to a date incrementally: it continues from the stored state when
  the transactions and customers the history saw are unchanged, and recomputes (restates) the reviews from
  the programme start when late-arriving data, other rules or a damaged state make that necessary. Either
  way the result equals a full replay; running it again changes nothing.

Every run writes a new ``loyalty`` folder beside the old one and swaps it in with renames
(:func:`retailsim.storage.atomic.staged_folder`): a failed or interrupted run leaves the previous history.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from retailsim import schema
from retailsim.errors import DatasetError, RetailsimError
from retailsim.loyalty import engine
from retailsim.loyalty.config import LoyaltyConfig
from retailsim.storage.atomic import staged_folder
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import write_table

LOYALTY_DIR = "loyalty"
HISTORY_FILE = "tier_history.parquet"
STATE_FILE = "state.parquet"
META_FILE = "loyalty.json"
LOYALTY_VERSION = 1
_LOCK_FILE = ".loyalty.lock"

STATE_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("tier_rank", pa.int32(), nullable=False),
        pa.field("below_since", pa.date32(), nullable=True),
    ]
)


def _as_dataset(ds: Dataset | str | Path) -> Dataset:
    return ds if isinstance(ds, Dataset) else Dataset(ds)


def loyalty_dir(ds: Dataset | str | Path) -> Path:
    """``DATASET/loyalty`` (recovering a history left aside by a run killed in the middle of its swap)."""
    d = _as_dataset(ds)
    target = d.path / LOYALTY_DIR
    if not target.exists():
        _recover(d.path)
    return target


def _recover(root: Path) -> None:
    """A run killed between the two renames of the swap leaves only ``.loyalty.old-*``: put it back."""
    olds = [p for p in root.glob(f".{LOYALTY_DIR}.old-*") if (p / META_FILE).is_file()]
    if olds:
        newest = max(olds, key=lambda p: p.stat().st_mtime)
        with contextlib.suppress(OSError):
            newest.replace(root / LOYALTY_DIR)


def history_path(ds: Dataset | str | Path) -> Path:
    """Path of ``loyalty/tier_history.parquet`` (whether or not it exists)."""
    return loyalty_dir(ds) / HISTORY_FILE


def read_meta(ds: Dataset | str | Path) -> dict[str, Any] | None:
    """The stored ``loyalty.json`` or ``None`` when the dataset has no tier history yet."""
    p = loyalty_dir(ds) / META_FILE
    if not p.is_file():
        return None
    try:
        meta: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{p} is not valid JSON: {err}") from None
    return meta


def stored_config(ds: Dataset | str | Path) -> LoyaltyConfig | None:
    """The rules the stored history was computed with (``None`` without a history)."""
    meta = read_meta(ds)
    return None if meta is None else LoyaltyConfig.model_validate(meta["config"])


def read_history(ds: Dataset | str | Path) -> pd.DataFrame:
    """The stored tier history (``tier_history`` table) as pandas.

    Raises
    ------
    DatasetError
        When the dataset has no tier history yet (run ``retailsim loyalty assign`` first).
    """
    return _read_history_pl(_as_dataset(ds)).to_pandas()


def _read_history_pl(ds: Dataset) -> pl.DataFrame:
    p = history_path(ds)
    if not p.is_file():
        raise DatasetError(
            f"{ds.path} has no tier history yet; run `retailsim loyalty assign {ds.path}` first"
        )
    return pl.from_arrow(pq.read_table(p))  # type: ignore[return-value]


def history_as_of(ds: Dataset | str | Path, as_of: dt.date | str) -> pd.DataFrame:
    """``customer_id, tier, tier_rank`` of the stored history's spells covering day ``as_of``."""
    d = engine.to_date(as_of)
    h = _read_history_pl(_as_dataset(ds))
    cur = h.filter(
        (pl.col("valid_from") <= d) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > d))
    ).select("customer_id", "tier", pl.col("tier_rank").cast(pl.Int8))
    return cur.sort("customer_id").to_pandas()


# ------------------------------------------------------------------------------------ runs
@dataclass
class LoyaltyRun:
    """What a run did.

    Attributes
    ----------
    kind
        ``replay``, ``full`` (assign recomputed every review), ``incremental`` or ``up-to-date``.
    note
        Why it ran the way it did (e.g. late-arriving transactions found in a reviewed month).
    """

    dataset: Path
    kind: str
    start: dt.date
    to: dt.date
    reviews_run: list[dt.date]
    last_review: dt.date | None
    rows: int
    customers: int
    mix: pd.DataFrame
    note: str = ""
    restated_from: dt.date | None = None
    wrote: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def _fingerprint(con: duckdb.DuckDBPyConnection, ds: Dataset, to: dt.date) -> dict[str, dict[str, str]]:
    """Per month: count and hash sum of the transactions (with a customer) and signups up to ``to``."""
    nxt = to + dt.timedelta(days=1)
    rows = con.execute(
        """
        SELECT strftime(txn_ts, '%Y-%m') AS m, count(*) AS n,
               sum(hash(customer_id, txn_ts, total_amount))::HUGEINT AS h
        FROM transactions
        WHERE customer_id IS NOT NULL AND txn_ts < ?
        GROUP BY 1
        """,
        [dt.datetime.combine(nxt, dt.time())],
    ).fetchall()
    out: dict[str, dict[str, str]] = {"transactions": {m: f"{n}:{h}" for m, n, h in rows}, "customers": {}}
    if ds.has("customers") and ds.has_column("customers", "signup_date"):
        rows = con.execute(
            """
            SELECT strftime(signup_date, '%Y-%m') AS m, count(*) AS n,
                   sum(hash(customer_id, signup_date))::HUGEINT AS h
            FROM customers WHERE signup_date <= ? GROUP BY 1
            """,
            [to],
        ).fetchall()
        out["customers"] = {m: f"{n}:{h}" for m, n, h in rows}
    return out


def _first_change(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> dt.date | None:
    months = set()
    for part in ("transactions", "customers"):
        a, b = old.get(part, {}), new.get(part, {})
        months |= {m for m in set(a) | set(b) if a.get(m) != b.get(m)}
    if not months:
        return None
    y, m = min(months).split("-")
    return dt.date(int(y), int(m), 1)


def _state_table(act: engine.Activity, state: engine.State) -> pa.Table:
    keep = state.held >= 0
    below = state.below[keep]
    below_days = engine._below_days(below)
    return pa.table(
        {
            "customer_id": pa.array(act.customer_id[keep], pa.int64()),
            "tier_rank": pa.array(state.held[keep].astype(np.int32), pa.int32()),
            "below_since": pa.array(
                [None if np.isnan(x) else engine.day_date(int(x)) for x in below_days], pa.date32()
            ),
        },
        schema=STATE_SCHEMA,
    )


def _load_state(ds: Dataset, act: engine.Activity, as_of: dt.date) -> engine.State | None:
    p = loyalty_dir(ds) / STATE_FILE
    if not p.is_file():
        return None
    t = pq.read_table(p)
    ids = t.column("customer_id").to_numpy()
    pos = act.index_of(ids)
    if (pos < 0).any():  # a customer the history knew has disappeared: recompute everything
        return None
    state = engine.State.empty(act.n)
    state.held[pos] = t.column("tier_rank").to_numpy().astype(np.int8)
    below = t.column("below_since").to_pandas()
    months = np.array(
        [-1 if pd.isna(b) else engine.month_index(pd.Timestamp(b).date()) for b in below], np.int32
    )
    state.below[pos] = months
    state.as_of = as_of
    return state


def _base_columns(h: pl.DataFrame, config: LoyaltyConfig) -> pl.DataFrame:
    """Stored spells back to the columns :func:`engine.finish_history` takes."""
    ranks = {n: i for i, n in enumerate(config.tier_names)}
    codes = {n: i for i, n in enumerate(engine.CHANGE_NAMES)}
    return h.select(
        "customer_id",
        "tier_rank",
        "valid_from",
        pl.col("change").replace_strict(codes, return_dtype=pl.Int32).alias("change_code"),
        "review_date",
        "window_spend",
        "window_visits",
        "avg_monthly_spend",
        "rank_share_above",
        pl.col("qualified_tier")
        .replace_strict(ranks, default=None, return_dtype=pl.Int32)
        .alias("qualified_rank"),
        "below_since",
    )


def _mix(current: np.ndarray, config: LoyaltyConfig) -> pd.DataFrame:
    counts = np.bincount(current[current >= 0].astype(np.int64), minlength=len(config.tiers))
    total = max(int(counts.sum()), 1)
    return pd.DataFrame(
        {
            "tier": config.tier_names,
            "tier_rank": range(len(config.tiers)),
            "customers": counts.astype(np.int64),
            "share": counts / total,
        }
    )


@contextlib.contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    """One writer per dataset at a time (advisory lock; a no-op where ``fcntl`` does not exist)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(root / _LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetailsimError(
                f"another loyalty run is writing {root}; try again when it has finished"
            ) from None
        yield
    finally:
        os.close(fd)


def _write(
    ds: Dataset,
    history: pl.DataFrame,
    state_tbl: pa.Table,
    meta: dict[str, Any],
) -> None:
    spec = schema.TIER_HISTORY
    table = history.to_arrow().cast(spec.arrow_schema())
    try:
        with staged_folder(ds.path / LOYALTY_DIR, overwrite=True) as tmp:
            rec = write_table(table, tmp, HISTORY_FILE, spec.name, "parquet")
            srec = write_table(state_tbl, tmp, STATE_FILE, "loyalty_state", "parquet")
            meta["files"] = [
                {"path": r.path, "rows": r.rows, "bytes": r.bytes, "sha256": r.sha256} for r in (rec, srec)
            ]
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise DatasetError(f"could not write the tier history into {ds.path}: {err}") from None


def _meta(
    ds: Dataset,
    config: LoyaltyConfig,
    start: dt.date,
    to: dt.date,
    reviews: list[dt.date],
    fingerprint: dict[str, dict[str, str]],
    mix: pd.DataFrame,
    rows: int,
    kind: str,
    note: str,
    restated_from: dt.date | None,
) -> dict[str, Any]:
    from retailsim import __version__

    return {
        "loyalty_version": LOYALTY_VERSION,
        "retailsim_version": __version__,
        "dataset_files_digest": engine.dataset_key(ds)[1],
        "config": config.model_dump(mode="json"),
        "config_digest": config.digest(),
        "start": start.isoformat(),
        "to": to.isoformat(),
        "reviews": [d.isoformat() for d in reviews],
        "rows": rows,
        "tier_mix": {r.tier: int(r.customers) for r in mix.itertuples()},
        "last_run": {
            "kind": kind,
            "note": note,
            "restated_from": restated_from.isoformat() if restated_from else None,
        },
        "fingerprint": fingerprint,
    }


def _resolve(
    ds: Dataset, config: LoyaltyConfig | None
) -> tuple[LoyaltyConfig, dict[str, Any] | None, engine.Activity]:
    meta = read_meta(ds)
    if config is None:
        config = LoyaltyConfig.model_validate(meta["config"]) if meta else LoyaltyConfig()
    return config, meta, engine.load_activity(ds)


def replay(
    ds: Dataset | str | Path,
    start: dt.date | str | None = None,
    to: dt.date | str | None = None,
    config: LoyaltyConfig | None = None,
) -> LoyaltyRun:
    """Run every review from the programme start to ``to`` and write the tier history (replacing any).

    Parameters
    ----------
    ds
        The dataset (folder).
    start
        Programme start (``--from``); overrides ``config.start`` and is stored with the rules. Default: the
        configured start, else the first day of the data.
    to
        Last day (``--to``): reviews up to and including it. Default: the last day with a transaction.
    config
        The rules. Default: those of the stored history, else :class:`LoyaltyConfig` defaults.

    Returns
    -------
    LoyaltyRun
        What was done, with the tier mix as of ``to``.
    """
    t0 = time.perf_counter()
    ds = _as_dataset(ds)
    cfg, _, act = _resolve(ds, config)
    if start is not None:
        cfg = cfg.model_copy(update={"start": engine.to_date(start)})
    return _full_run(ds, cfg, act, to, kind="replay", note="replayed every review", t0=t0)


def _target(act: engine.Activity, to: dt.date | str | None) -> dt.date:
    if to is not None:
        return engine.to_date(to)
    if act.data_end is None:
        raise DatasetError(f"{act.source}: no transactions with a customer; nothing to review")
    return act.data_end


def _full_run(
    ds: Dataset,
    cfg: LoyaltyConfig,
    act: engine.Activity,
    to: dt.date | str | None,
    *,
    kind: str,
    note: str,
    t0: float,
    restated_from: dt.date | None = None,
) -> LoyaltyRun:
    t_load = time.perf_counter() - t0
    end = _target(act, to)
    start = engine.programme_start(cfg, act)
    if end < start:
        raise RetailsimError(f"the last day {end} is before the programme start {start}")
    with _writer_lock(ds.path):
        t1 = time.perf_counter()
        sim = engine.simulate(act, cfg, start=start, to=end)
        assert sim.events is not None
        history = engine.history_frame(sim.events, cfg)
        t2 = time.perf_counter()
        con = ds.connect()
        try:
            fp = _fingerprint(con, ds, end)
        finally:
            con.close()
        mix = _mix(sim.state.held, cfg)
        meta = _meta(ds, cfg, start, end, sim.reviews, fp, mix, history.height, kind, note, restated_from)
        _write(ds, history, _state_table(act, sim.state), meta)
        t3 = time.perf_counter()
    return LoyaltyRun(
        dataset=ds.path,
        kind=kind,
        start=start,
        to=end,
        reviews_run=sim.reviews,
        last_review=sim.reviews[-1] if sim.reviews else None,
        rows=history.height,
        customers=int((sim.state.held >= 0).sum()),
        mix=mix,
        note=note,
        restated_from=restated_from,
        wrote=True,
        seconds=time.perf_counter() - t0,
        timings={"activity": t_load, "reviews": t2 - t1, "write": t3 - t2},
    )


def assign(
    ds: Dataset | str | Path,
    as_of: dt.date | str | None = None,
    config: LoyaltyConfig | None = None,
) -> LoyaltyRun:
    """Bring the tier history up to ``as_of`` (incrementally when possible) and report the tiers then.

    Runs the reviews after the stored history's last day from the stored state. When the transactions or
    signups the history saw have changed (late-arriving data), the rules changed, or there is no history,
    every review is recomputed from the programme start instead. The result always equals
    ``replay(ds, to=as_of)``; with nothing new it writes nothing.

    Parameters
    ----------
    ds
        The dataset (folder).
    as_of
        Date to bring the history up to. Default: the last day with a transaction. An earlier date than the
        history's end only reports the tiers then (the history is not shortened).
    config
        The rules. Default: those of the stored history, else :class:`LoyaltyConfig` defaults.

    Returns
    -------
    LoyaltyRun
        What was done, with the tier mix as of ``as_of``.
    """
    t0 = time.perf_counter()
    ds = _as_dataset(ds)
    cfg, meta, act = _resolve(ds, config)
    target = _target(act, as_of)
    if meta is None:
        return _full_run(ds, cfg, act, target, kind="full", note="no tier history yet", t0=t0)
    if meta.get("loyalty_version") != LOYALTY_VERSION:
        return _full_run(ds, cfg, act, target, kind="full", note="history written by another version", t0=t0)
    if cfg.digest() != meta.get("config_digest"):
        return _full_run(ds, cfg, act, target, kind="full", note="the rules changed", t0=t0)
    prev_to = dt.date.fromisoformat(meta["to"])
    con = ds.connect()
    try:
        seen = _fingerprint(con, ds, prev_to)
    finally:
        con.close()
    changed = _first_change(meta.get("fingerprint", {}), seen)
    end = max(target, prev_to)
    if changed is not None:
        return _full_run(
            ds,
            cfg,
            act,
            end,
            kind="full",
            note=f"transactions or signups changed in {changed:%Y-%m} (late-arriving data): restated",
            restated_from=changed,
            t0=t0,
        )
    state = _load_state(ds, act, prev_to)
    if state is None:
        return _full_run(ds, cfg, act, end, kind="full", note="stored state missing or stale", t0=t0)
    if end == prev_to:
        current = history_as_of(ds, target)
        mix = _mix(current["tier_rank"].to_numpy().astype(np.int64), cfg)
        return LoyaltyRun(
            dataset=ds.path,
            kind="up-to-date",
            start=dt.date.fromisoformat(meta["start"]),
            to=target,
            reviews_run=[],
            last_review=dt.date.fromisoformat(meta["reviews"][-1]) if meta["reviews"] else None,
            rows=int(meta["rows"]),
            customers=len(current),
            mix=mix,
            note=f"history already up to {prev_to}; nothing changed",
            seconds=time.perf_counter() - t0,
        )
    with _writer_lock(ds.path):
        start = dt.date.fromisoformat(meta["start"])
        t1 = time.perf_counter()
        sim = engine.simulate(act, cfg, start=start, to=end, init=state)
        assert sim.events is not None
        new = engine.history_frame(sim.events, cfg)
        old = _read_history_pl(ds)
        cols = _base_columns(old, cfg)
        added = _base_columns(new, cfg)
        history = engine.finish_history(pl.concat([cols, added], how="vertical_relaxed"), cfg)
        t2 = time.perf_counter()
        con = ds.connect()
        try:
            fp = _fingerprint(con, ds, end)
        finally:
            con.close()
        mix = _mix(sim.state.held, cfg)
        reviews = [dt.date.fromisoformat(x) for x in meta["reviews"]] + sim.reviews
        note = f"continued from {prev_to}: {len(sim.reviews)} new review(s)"
        meta2 = _meta(ds, cfg, start, end, reviews, fp, mix, history.height, "incremental", note, None)
        _write(ds, history, _state_table(act, sim.state), meta2)
        t3 = time.perf_counter()
    return LoyaltyRun(
        dataset=ds.path,
        kind="incremental",
        start=start,
        to=end,
        reviews_run=sim.reviews,
        last_review=reviews[-1] if reviews else None,
        rows=history.height,
        customers=int((sim.state.held >= 0).sum()),
        mix=mix,
        note=note,
        wrote=True,
        seconds=time.perf_counter() - t0,
        timings={"reviews": t2 - t1, "write": t3 - t2},
    )


# ------------------------------------------------------------------------------ the checks
GAPS_AND_OVERLAPS_SQL = """
WITH h AS (
    SELECT customer_id, valid_from, valid_to,
           lead(valid_from) OVER (PARTITION BY customer_id ORDER BY valid_from, valid_to NULLS LAST) AS next_from
    FROM {table}
)
SELECT
    count(*) FILTER (WHERE next_from IS NOT NULL AND valid_to IS NOT NULL AND valid_to < next_from) AS gaps,
    count(*) FILTER (WHERE next_from IS NOT NULL AND (valid_to IS NULL OR valid_to > next_from)) AS overlaps,
    count(*) FILTER (WHERE valid_to IS NOT NULL AND valid_to <= valid_from) AS empty_spells,
    count(*) FILTER (WHERE next_from IS NULL AND valid_to IS NOT NULL) AS closed_last_spells
FROM h
"""
"""SQL counting the violations of a tier history held in relation ``{table}`` (format it in).

``gaps``: a spell ends before the next one starts; ``overlaps``: a spell runs past the start of the next
one (or two spells start on the same day, or an open spell is followed by another); ``empty_spells``:
``valid_to <= valid_from``; ``closed_last_spells``: a customer's last spell is closed, leaving them without a
current tier. A sound history has zero of each."""


def history_problems(source: Dataset | str | Path | duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Count gaps, overlaps, empty spells and closed last spells in a tier history.

    Parameters
    ----------
    source
        A :class:`Dataset` or dataset folder (reads ``loyalty/tier_history.parquet``), a path to a tier
        history Parquet file, or a DuckDB connection in which a relation ``tier_history`` exists.

    Returns
    -------
    dict
        ``{"gaps": n, "overlaps": n, "empty_spells": n, "closed_last_spells": n}``; all zero when sound.
    """
    if isinstance(source, duckdb.DuckDBPyConnection):
        con, table, own = source, "tier_history", False
    else:
        p = Path(source.path) if isinstance(source, Dataset) else Path(source)
        if p.is_dir():
            p = history_path(p)
        if not p.is_file():
            raise DatasetError(f"no tier history at {p}")
        con, own = duckdb.connect(), True
        table = "read_parquet('" + str(p).replace("'", "''") + "')"
    try:
        row = con.execute(GAPS_AND_OVERLAPS_SQL.format(table=table)).fetchone()
        names = ("gaps", "overlaps", "empty_spells", "closed_last_spells")
        return {n: int(v or 0) for n, v in zip(names, row or (0, 0, 0, 0), strict=True)}
    finally:
        if own:
            con.close()


def history_gaps_and_overlaps(source: Dataset | str | Path | duckdb.DuckDBPyConnection) -> int:
    """Number of spells that break the "no gaps, no overlaps, one current tier" rule (0 = sound).

    The data-quality suite can call this on any dataset with a tier history; see :func:`history_problems`
    for the accepted sources and the breakdown.
    """
    return sum(history_problems(source).values())
