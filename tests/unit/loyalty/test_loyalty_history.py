"""The stored history: idempotent, replay == review by review, incremental == full, atomic, gap-free."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from retailsim import schema
from retailsim.errors import RetailsimError
from retailsim.loyalty import (
    assign,
    history_gaps_and_overlaps,
    history_path,
    history_problems,
    read_history,
    replay,
    store,
)
from retailsim.loyalty.config import LoyaltyConfig
from retailsim.loyalty.engine import review_dates
from retailsim.storage.dataset import Dataset

MakeDs = Callable[..., Dataset]
D = dt.date


def synthetic(n_customers: int = 60, seed: int = 3, until: D = D(2024, 9, 30)) -> tuple[list, list]:
    """Customers signing up over time with bursts and pauses of spending (so tiers move both ways)."""
    rnd = random.Random(seed)
    customers = [
        (c, D(2023, 10, 1) + dt.timedelta(days=rnd.randrange(0, 200))) for c in range(1, n_customers + 1)
    ]
    txns = []
    for c, signup in customers:
        level = rnd.choice([5, 20, 40, 80])
        day = max(signup, D(2024, 1, 1))
        while day <= until:
            if rnd.random() < 0.5:
                txns.append(
                    (
                        c,
                        dt.datetime.combine(day, dt.time(rnd.randrange(8, 21))),
                        round(rnd.uniform(0.3, 1.7) * level, 2),
                    )
                )
            day += dt.timedelta(days=rnd.choice([2, 5, 9, 30, 60]))
    txns += [(None, dt.datetime(2024, 2, 2, 10), 77.0), (1, dt.datetime.combine(until, dt.time(20)), 1.0)]
    return customers, txns


def table(ds: Dataset):  # the history as a comparable pandas frame
    return read_history(ds).sort_values(["customer_id", "valid_from"]).reset_index(drop=True)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_history_matches_the_schema_and_has_no_gaps(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(*synthetic())
    run = replay(ds, config=rules)
    assert run.kind == "replay" and run.to == D(2024, 9, 30) and len(run.reviews_run) == 9
    got = pq.read_schema(history_path(ds))
    assert got.remove_metadata() == schema.TIER_HISTORY.arrow_schema()
    assert history_problems(ds) == {"gaps": 0, "overlaps": 0, "empty_spells": 0, "closed_last_spells": 0}
    h = table(ds)
    assert h.groupby("customer_id")["valid_to"].apply(lambda s: s.isna().sum()).eq(1).all()
    assert set(h["change"]) == {"enrol", "upgrade", "downgrade"}  # tiers move both ways
    # consecutive spells of a customer never repeat a tier
    same = (h["customer_id"] == h["customer_id"].shift()) & (h["tier"] == h["tier"].shift())
    assert not same.any()
    meta = json.loads((ds.path / "loyalty" / "loyalty.json").read_text())
    assert meta["rows"] == len(h) and meta["files"][0]["sha256"] == sha(history_path(ds))
    assert json.loads((ds.path / "manifest.json").read_text())["files"] == ds.manifest["files"]


def test_idempotent(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(*synthetic())
    replay(ds, config=rules)
    first = sha(history_path(ds))
    again = assign(ds, config=rules)
    assert again.kind == "up-to-date" and not again.wrote and sha(history_path(ds)) == first
    replay(ds, config=rules)
    assert sha(history_path(ds)) == first  # the same review run twice changes nothing


def test_replay_equals_each_review_in_order(make_ds: MakeDs, rules: LoyaltyConfig, tmp_path: Path) -> None:
    customers, txns = synthetic()
    full = make_ds(customers, txns, name="full")
    replay(full, config=rules)
    steps = make_ds(customers, txns, name="steps")
    for d in review_dates(rules, D(2024, 1, 1), D(2024, 9, 30)):
        run = assign(steps, as_of=d, config=rules)
        assert run.reviews_run in ([d], [])  # one review at a time
    assert table(steps).equals(table(full))


def test_incremental_after_new_transactions_equals_full_replay(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    customers, txns = synthetic()
    cut = dt.datetime(2024, 6, 1)
    ds = make_ds(customers, [t for t in txns if t[1] < cut], name="inc")
    first = assign(ds, config=rules)
    assert first.kind == "full" and first.to == max(t[1] for t in txns if t[1] < cut and t[0]).date()
    ds = make_ds(customers, txns, name="inc")  # June..September arrive
    run = assign(ds, config=rules)
    assert run.kind == "incremental", run.note
    assert run.reviews_run == [D(2024, 6, 30), D(2024, 7, 31), D(2024, 8, 31), D(2024, 9, 30)]
    full = make_ds(customers, txns, name="full")
    replay(full, config=rules)
    assert table(ds).equals(table(full))
    assert history_gaps_and_overlaps(ds) == 0


@pytest.mark.parametrize(
    "late",
    [
        [(5, dt.datetime(2024, 2, 14, 9), 400.0)],  # a big purchase in an already reviewed month
        [(6, dt.datetime(2024, 3, 31, 23, 59), 0.01)],  # on a review day
    ],
)
def test_late_arriving_transactions_restate_and_equal_full_replay(
    make_ds: MakeDs, rules: LoyaltyConfig, late: list
) -> None:
    customers, txns = synthetic()
    ds = make_ds(customers, txns, name="late")
    replay(ds, config=rules)
    before = table(ds)
    ds = make_ds(customers, txns + late, name="late")
    run = assign(ds, config=rules)
    assert run.kind == "full" and "late-arriving" in run.note
    assert run.restated_from == late[0][1].date().replace(day=1)
    full = make_ds(customers, txns + late, name="full")
    replay(full, config=rules)
    assert table(ds).equals(table(full))
    assert not table(ds).equals(before) or late[0][2] < 1


def test_late_arriving_signup_restates(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    customers, txns = synthetic()
    ds = make_ds(customers, txns, name="late")
    replay(ds, config=rules)
    ds = make_ds([*customers, (999, "2024-02-10")], txns, name="late")
    run = assign(ds, config=rules)
    assert run.kind == "full" and run.restated_from == D(2024, 2, 1)
    h = table(ds)
    assert h[h["customer_id"] == 999]["valid_from"].dt.date.tolist() == [D(2024, 2, 10)]


def test_new_rules_recompute_and_stored_rules_are_reused(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(*synthetic())
    replay(ds, config=rules)
    assert store.stored_config(ds) == rules
    assert assign(ds).kind == "up-to-date"  # no config given: the stored rules
    other = rules.model_copy(update={"grace_months": 0})
    run = assign(ds, config=other)
    assert run.kind == "full" and "rules changed" in run.note
    assert store.stored_config(ds) == other


def test_replay_from_a_later_start(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(*synthetic())
    run = replay(ds, start="2024-04-15", to="2024-06-30", config=rules)
    assert run.reviews_run == [D(2024, 4, 30), D(2024, 5, 31), D(2024, 6, 30)]
    h = table(ds)
    assert h["valid_from"].min().date() == D(2024, 4, 15)
    assert store.stored_config(ds).start == D(2024, 4, 15)
    with pytest.raises(RetailsimError, match="before the programme start"):
        replay(ds, start="2024-05-01", to="2024-04-01", config=rules)


def test_failed_run_leaves_the_previous_history_intact(
    make_ds: MakeDs, rules: LoyaltyConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = make_ds(*synthetic())
    replay(ds, to="2024-05-31", config=rules)
    before = {p.name: sha(p) for p in (ds.path / "loyalty").iterdir()}
    calls = {"n": 0}
    real = store.write_table

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # history written, state fails: the run dies mid-way
            raise OSError("disk full")
        return real(*args, **kw)

    monkeypatch.setattr(store, "write_table", flaky)
    with pytest.raises(RetailsimError, match="disk full"):
        replay(ds, config=rules)
    monkeypatch.undo()
    assert {p.name: sha(p) for p in (ds.path / "loyalty").iterdir()} == before
    assert not [p for p in ds.path.glob(".loyalty.*") if p.is_dir()]  # no partial folder left behind
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(
            store.engine, "history_frame", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
        )
        assign(ds, config=rules)
    assert {p.name: sha(p) for p in (ds.path / "loyalty").iterdir()} == before


def test_a_swap_killed_between_renames_is_recovered(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(*synthetic())
    replay(ds, config=rules)
    before = table(ds)
    (ds.path / "loyalty").replace(ds.path / ".loyalty.old-deadbeef")  # the state after the first rename
    assert table(ds).equals(before)
    assert (ds.path / "loyalty").is_dir()


def test_one_writer_at_a_time(make_ds: MakeDs, rules: LoyaltyConfig) -> None:
    ds = make_ds(*synthetic())
    with store._writer_lock(ds.path), pytest.raises(RetailsimError, match="another loyalty run"):
        replay(ds, config=rules)


def test_gap_and_overlap_check_finds_broken_histories(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute(
        """
        CREATE TABLE tier_history AS SELECT * FROM (VALUES
            (1, DATE '2024-01-01', DATE '2024-02-01'), (1, DATE '2024-02-01', NULL),       -- sound
            (2, DATE '2024-01-01', DATE '2024-02-01'), (2, DATE '2024-02-15', NULL),       -- gap
            (3, DATE '2024-01-01', DATE '2024-03-01'), (3, DATE '2024-02-01', NULL),       -- overlap
            (4, DATE '2024-01-01', NULL), (4, DATE '2024-02-01', NULL),                     -- two open
            (5, DATE '2024-01-01', DATE '2024-01-01'), (5, DATE '2024-01-01', NULL),       -- empty
            (6, DATE '2024-01-01', DATE '2024-02-01')                                       -- no current
        ) t(customer_id, valid_from, valid_to)
        """
    )
    assert history_problems(con) == {"gaps": 1, "overlaps": 2, "empty_spells": 1, "closed_last_spells": 1}
    assert history_gaps_and_overlaps(con) == 5
    out = tmp_path / "h.parquet"
    con.execute(f"COPY tier_history TO '{out}' (FORMAT parquet)")
    assert history_gaps_and_overlaps(out) == 5
    with pytest.raises(RetailsimError, match="no tier history"):
        history_problems(tmp_path / "nothing.parquet")
