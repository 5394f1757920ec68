"""Loyalty on generated and imported data: plausible tier mix, latent-spend correlation, CLI, sound history."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from retailsim.cli import app
from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.loyalty import (
    assign,
    history_as_of,
    history_gaps_and_overlaps,
    read_history,
    replay,
    tiers_as_of,
    tiers_at,
)
from retailsim.loyalty.config import LoyaltyConfig
from retailsim.loyalty.engine import review_dates
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import write_table
from retailsim.storage.manifest import build_manifest, write_manifest

runner = CliRunner()


def run_cli(args: list[str]) -> tuple[int, str]:
    """Exit code and the output with Rich's line wrapping undone."""
    res = runner.invoke(app, args)
    return res.exit_code, " ".join(res.output.split())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The demo preset (10k customers, 18 months, ~1M lines), as `make demo` builds it."""
    return generate(build_config("demo", sets=["seed=42"]), tmp_path_factory.mktemp("demo") / "ds", workers=2)


def _copy(ds: Dataset, to: Path) -> Dataset:
    shutil.copytree(ds.path, to)
    return Dataset(to)


def test_demo_tier_mix_is_plausible_and_tracks_latent_spend(demo: Dataset) -> None:
    run = assign(demo)
    assert run.kind == "full" and run.to == dt.date(2025, 6, 30) and len(run.reviews_run) == 18
    mix = run.mix.set_index("tier")["share"]
    print("\ndemo tier mix as of", run.to, mix.round(3).to_dict())
    assert mix["Bronze"] > 0.5  # most customers in the base tier
    assert list(mix) == sorted(mix, reverse=True)  # fewer customers in every higher tier
    assert 0.005 <= mix["Platinum"] <= 0.06  # a small top tier
    assert history_gaps_and_overlaps(demo) == 0
    con = demo.connect()
    truth = con.sql(
        "SELECT customer_id, purchase_rate * (1 + basket_lines_mean) AS latent FROM customer_truth"
    ).df()
    con.close()
    tiers = tiers_as_of(demo, run.to).merge(truth, on="customer_id")
    rho = spearmanr(tiers["tier_rank"], tiers["latent"]).statistic
    print(f"Spearman(tier rank, purchase_rate × basket size) = {rho:.3f} over {len(tiers):,} customers")
    assert rho > 0.45


def test_tiers_as_of_equals_the_stored_history(demo: Dataset) -> None:
    """Speed is benchmarks/bench_loyalty.py's business (no wall-time verdicts in tests)."""
    replay(demo)
    cutoffs = review_dates(LoyaltyConfig(), dt.date(2024, 1, 1), dt.date(2025, 6, 30))
    many = tiers_at(demo, cutoffs)
    for d in (cutoffs[0], cutoffs[8], dt.date(2024, 11, 17), cutoffs[-1]):
        a = tiers_as_of(demo, d)
        pd.testing.assert_frame_equal(a, history_as_of(demo, d), check_dtype=False)
        pd.testing.assert_frame_equal(
            a, many[many["as_of"] == pd.Timestamp(d)].drop(columns="as_of").reset_index(drop=True)
        ) if d in cutoffs else None
    assert list(a.columns) == ["customer_id", "tier", "tier_rank"] and a["tier_rank"].dtype == "int8"


def test_generated_history_joins_customers(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = _copy(tiny_dataset, tmp_path / "tiny")
    run = replay(ds)
    con = ds.connect()
    h = pa.Table.from_pandas(read_history(ds))
    con.register("h", h)
    orphans = con.sql("SELECT count(*) FROM h ANTI JOIN customers USING (customer_id)").fetchall()[0][0]
    current = con.sql("SELECT count(*) FROM h WHERE valid_to IS NULL").fetchall()[0][0]
    n_customers = con.sql("SELECT count(*) FROM customers").fetchall()[0][0]
    con.close()
    assert orphans == 0 and current == run.customers == n_customers
    assert history_gaps_and_overlaps(ds) == 0


def test_late_arriving_transactions_in_a_generated_dataset(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = _copy(tiny_dataset, tmp_path / "late")
    replay(ds)
    cid = int(tiers_as_of(ds, "2024-03-31")["customer_id"].iloc[0])
    extra = pa.table(
        {
            "txn_id": pa.array([10**12], pa.int64()),
            "customer_id": pa.array([cid], pa.int64()),
            "store_id": pa.array([1], pa.int32()),
            "txn_ts": pa.array([dt.datetime(2024, 3, 3, 11)], pa.timestamp("ms")),
            "channel": ["in_store"],
            "payment_method": ["card"],
            "n_lines": pa.array([1], pa.int32()),
            "n_items": pa.array([1], pa.int32()),
            "gross_amount": [9000.0],
            "discount_amount": [0.0],
            "total_amount": [9000.0],
        }
    )
    rec = write_table(
        extra, ds.path, "transactions/month=2024-03/late-00000.parquet", "transactions", "parquet"
    )
    m = json.loads((ds.path / "manifest.json").read_text())
    files = [r for r in m["files"]] + [rec.__dict__]
    from retailsim.storage.files import FileRecord

    manifest = build_manifest(
        [FileRecord(**f) for f in files],
        fmt=m["format"],
        kind=m["kind"],
        extra={
            k: v
            for k, v in m.items()
            if k not in ("manifest_version", "retailsim_version", "kind", "format", "tables", "files")
        },
    )
    write_manifest(ds.path, manifest)
    ds = Dataset(ds.path)
    run = assign(ds)
    assert run.kind == "full" and run.restated_from == dt.date(2024, 3, 1)
    assert tiers_as_of(ds, "2024-03-31").set_index("customer_id").loc[cid, "tier"] == "Platinum"
    full = _copy(ds, tmp_path / "full")
    replay(full)
    assert read_history(ds).equals(read_history(full))


def test_imported_real_log(tmp_path: Path) -> None:
    importer = pytest.importorskip("retailsim.fidelity.importer")
    log = Path(__file__).parents[2] / "data" / "cdnow_sample" / "cdnow_sample.csv"
    if not hasattr(importer, "import_log") or not log.is_file():
        pytest.skip("no importer or sample log")
    try:
        res = importer.import_log(
            log, tmp_path / "cdnow", mapping={"customer_id": "cust", "timestamp": "date", "amount": "dollars"}
        )
    except Exception as err:  # the importer is another capability; its failures are its own tests' business
        pytest.skip(f"importer unavailable: {err}")
    ds = getattr(res, "dataset", None) or Dataset(tmp_path / "cdnow")
    run = replay(ds, config=LoyaltyConfig(mode="rank"))
    assert run.customers == ds.rows("customers") and len(run.reviews_run) == 18
    assert history_gaps_and_overlaps(ds) == 0
    shares = run.mix.set_index("tier")["customers"]
    assert shares["Platinum"] > 0 and shares["Bronze"] > 0


# ---------------------------------------------------------------------------------- CLI
def test_cli_assign_replay_explain_check(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = _copy(tiny_dataset, tmp_path / "cli")
    code, out = run_cli(["loyalty", "assign", str(ds.path)])
    assert code == 0, out
    assert "Tier mix as of" in out and "Platinum" in out and "wrote" in out
    code, out = run_cli(["loyalty", "assign", str(ds.path), "-q"])
    assert code == 0 and "nothing changed" in out
    code, out = run_cli(
        [
            "loyalty",
            "replay",
            str(ds.path),
            "--from",
            "2024-02-01",
            "--to",
            "2024-06-30",
            "--set",
            "mode=rank",
        ]
    )
    assert code == 0, out
    assert "5 review(s) 2024-02-29 … 2024-06-30" in out and "rank mode" in out
    h = read_history(ds)
    cid = int(h[h["change"] == "upgrade"]["customer_id"].iloc[0])
    code, out = run_cli(["loyalty", "explain", str(ds.path), str(cid)])
    assert code == 0, out
    assert f"customer {cid}:" in out and "last review 2024-06-30" in out
    assert "Tier history" in out and "upgrade" in out
    code, out = run_cli(["loyalty", "check", str(ds.path)])
    assert code == 0 and "no gaps" in out


def test_cli_errors_are_one_clear_line(tiny_dataset: Dataset, tmp_path: Path) -> None:
    ds = _copy(tiny_dataset, tmp_path / "err")
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "tiers:\n  - {name: Bronze}\n  - {name: Silver, min_spend: 100, min_visits: 5}\n  - {name: Gold, min_spend: 100, min_visits: 9}\n"
    )
    cases = [
        (["loyalty", "assign", str(ds.path), "--config", str(bad)], "tiers[2].min_spend"),
        (["loyalty", "assign", str(ds.path), "--set", "rank.shares.Diamond=0.1"], "unknown tier 'Diamond'"),
        (["loyalty", "assign", str(ds.path), "--as-of", "31/12/2024"], "not a date"),
        (["loyalty", "explain", str(ds.path), "99999999"], "unknown customer 99999999"),
        (["loyalty", "assign", str(tmp_path / "nope")], "not found"),
        (["loyalty", "check", str(ds.path)], "no tier history"),
    ]
    for args, needle in cases:
        code, out = run_cli(args)
        assert code == 2, (args, out)
        assert needle in out and "Traceback" not in out, out
    assert not (ds.path / "loyalty").exists()
