"""Recall and precision against truth/defects.parquet: every injected defect is caught, nothing else is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from retailsim import schema
from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.quality.defects import EXPECTED_RULES, KINDS
from retailsim.quality.engine import run_validation
from retailsim.quality.truth import score
from retailsim.storage.dataset import Dataset


def check_perfect(ds: Dataset) -> dict[str, int]:
    report = run_validation(ds)
    card = score(report, ds)
    print(f"\n{ds.path} (rate {ds.manifest['defects']['rate']}, seed {ds.manifest['seed']}, {ds.format})")
    print(card.text())
    assert card.injected > 0
    assert card.missed_keys == [], f"missed: {card.missed_keys}"
    assert card.false_alarms == 0, f"false alarms by rule: {card.false_alarm_rules}"
    assert card.recall == 1.0 and card.precision == 1.0
    for kind, k in card.kinds.items():  # caught for the right reason
        assert k.by_expected_rule == k.caught, (kind, k.rules, EXPECTED_RULES[kind])
    assert report.exit_code == 1
    return {kind: k.injected for kind, k in card.kinds.items()}


def test_every_kind_is_caught_parquet(defective_parquet: Dataset) -> None:
    injected = check_perfect(defective_parquet)
    assert set(injected) == set(KINDS) - {"unparseable_cell"}, "every Parquet kind injected at this rate"


def test_every_kind_is_caught_csv(defective_csv: Dataset) -> None:
    injected = check_perfect(defective_csv)
    assert set(injected) == set(KINDS), "every kind, unparseable cells included"


@pytest.mark.parametrize(("seed", "rate"), [(3, 0.01), (21, 0.2)])
def test_recall_and_precision_at_other_rates_and_seeds(
    make_defective: Callable[..., Dataset], seed: int, rate: float
) -> None:
    check_perfect(make_defective("tiny", seed, rate))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "seed", "rate", "fmt"), [("small", 11, 0.01, "parquet"), ("small", 12, 0.02, "csv")]
)
def test_recall_and_precision_small(
    make_defective: Callable[..., Dataset], preset: str, seed: int, rate: float, fmt: str
) -> None:
    check_perfect(make_defective(preset, seed, rate, fmt))


def test_truth_file_matches_its_schema(defective_parquet: Dataset) -> None:
    path = defective_parquet.path / "truth/defects.parquet"
    assert pq.read_schema(path).remove_metadata() == schema.DEFECTS_TRUTH.arrow_schema()
    t = defective_parquet.read("defects")
    keys = list(zip(t.column("table_name").to_pylist(), t.column("row_key").to_pylist(), strict=True))
    assert len(keys) == len(set(keys)), "one truth row per damaged row"
    assert defective_parquet.manifest["defects"]["rows"] == t.num_rows


def test_defects_are_deterministic_across_worker_counts(tmp_path: Path) -> None:
    cfg = build_config("tiny", sets=["seed=5"])
    a = generate(cfg, tmp_path / "a", workers=1, defects="rate=0.03")
    b = generate(cfg, tmp_path / "b", workers=2, defects="rate=0.03")
    assert a.manifest["files"] == b.manifest["files"], "same bytes, same hashes"


def test_only_requested_kinds(tmp_path: Path) -> None:
    ds = generate(
        build_config("tiny", sets=["seed=4"]),
        tmp_path / "k",
        defects="rate=0.05,kinds=bad_quantity+orphan_key",
    )
    kinds = set(ds.read("defects").column("kind").to_pylist())
    assert kinds == {"bad_quantity", "orphan_key"}
    check_perfect(ds)
