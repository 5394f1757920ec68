"""Fixtures of the prediction tests: a small, fast training configuration, a trained tiny model and a helper
that rewrites a dataset's transactions (for the leakage and predict-with-today tests) independently of the
code under test."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retailsim.ml.config import MLConfig, build_ml_config
from retailsim.ml.train import TrainResult, train
from retailsim.storage.dataset import Dataset

#: Tiny settings: every model trains in a second or two on the `tiny` preset.
FAST_SETS = [
    "xgb.n_estimators=40",
    "xgb.early_stopping_rounds=10",
    "rf.n_estimators=8",
    "nn.epochs=2",
    "nn.hidden_size=8",
    "nn.static_size=8",
    "nn.batch_size=256",
    "bgnbd.max_fit_customers=300",
    "bgnbd_features=false",
    "threads=1",
]


def fast_config(models: str, *extra: str) -> MLConfig:
    return build_ml_config(sets=[*FAST_SETS, f"models={models}", *extra])


@pytest.fixture(scope="session")
def ml_config() -> Callable[..., MLConfig]:
    """``ml_config("lr,xgb", "seed=3")``: the tiny training settings with these models and overrides."""
    return fast_config


@pytest.fixture(scope="session")
def trained_tiny(tiny_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The fast model set plus a GRU on the tiny preset, with the stacked BG/NBD features, saved under a
    temporary model directory."""
    out = tmp_path_factory.mktemp("models")
    cfg = fast_config("zero,last30,mean_daily,hurdle,lr,xgb,gru", "bgnbd_features=true")
    return train(tiny_dataset, cfg, model_dir=out)


TableFn = Callable[[pa.Table], pa.Table]


@pytest.fixture(scope="session")
def rewrite() -> Callable[..., Dataset]:
    """:func:`rewrite_dataset`."""
    return rewrite_dataset


def rewrite_dataset(
    ds: Dataset,
    out: Path,
    *,
    transactions: TableFn | None = None,
    lines: Callable[[pa.Table, pa.Table], pa.Table] | None = None,
    extra: dict[str, pa.Table] | None = None,
) -> Dataset:
    """Copy ``ds`` to ``out`` with its transaction files passed through ``transactions`` (per file), its line
    files through ``lines(lines, all_transactions_after_rewrite)`` and ``extra`` tables appended as new files;
    the manifest is rewritten with the new checksums."""
    shutil.copytree(ds.path, out, ignore=shutil.ignore_patterns("models", "ml", "loyalty"))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    txn_all = None
    if transactions is not None or lines is not None:
        parts = []
        for f in manifest["files"]:
            if f["table"] == "transactions":
                t = pq.read_table(out / f["path"])
                if transactions is not None:
                    t = transactions(t)
                pq.write_table(t, out / f["path"], compression="zstd")
                parts.append(t)
        txn_all = pa.concat_tables(parts)
    if lines is not None:
        for f in manifest["files"]:
            if f["table"] == "transaction_lines":
                t = lines(pq.read_table(out / f["path"]), txn_all)  # type: ignore[arg-type]
                pq.write_table(t, out / f["path"], compression="zstd")
    for table, rows in (extra or {}).items():
        rel = f"{table}/extra-rows.parquet"
        (out / table).mkdir(exist_ok=True)
        pq.write_table(rows, out / rel, compression="zstd")
        manifest["files"].append(
            {"path": rel, "table": table, "rows": rows.num_rows, "bytes": 0, "sha256": ""}
        )
        manifest["tables"][table]["rows"] += rows.num_rows
    for f in manifest["files"]:
        p = out / f["path"]
        data = p.read_bytes()
        f["bytes"], f["sha256"] = len(data), hashlib.sha256(data).hexdigest()
        if f["table"] in ("transactions", "transaction_lines"):
            f["rows"] = pq.read_metadata(p).num_rows
    for t in ("transactions", "transaction_lines"):
        manifest["tables"][t]["rows"] = sum(f["rows"] for f in manifest["files"] if f["table"] == t)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return Dataset(out)


CDNOW_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "cdnow_sample" / "cdnow_sample.csv"


@pytest.fixture(scope="session")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The shipped CDNOW sample imported with ``retailsim import`` (customer, date, CDs, dollars)."""
    import warnings

    importer = pytest.importorskip("retailsim.fidelity.importer")
    if not CDNOW_SAMPLE.is_file():
        pytest.skip("tests/data/cdnow_sample is not there")
    with warnings.catch_warnings():
        # the importer's DuckDB → Arrow call warns about an extra copy (DuckDB 2.0); not ours to fix here
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        result = importer.import_log(
            CDNOW_SAMPLE,
            tmp_path_factory.mktemp("cdnow") / "ds",
            mapping={"customer_id": "cust", "timestamp": "date", "amount": "dollars", "quantity": "cds"},
        )
    return result.dataset
