"""Datasets for the dashboard tests: a generated one, one missing every optional part, and the real CDNOW log
imported with ``retailsim import``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from app_helpers import CDNOW

from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.storage.dataset import Dataset

DERIVED = ("loyalty", "quality", "quarantine", "models")


@pytest.fixture(scope="session")
def app_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A `tiny` generated dataset (400 customers, 8 months) with everything the pages can show: the loyalty
    tier history and a stored validation report (and a trained model when the ML capability can train)."""
    cfg = build_config("tiny", sets=["seed=3"])
    ds = generate(cfg, tmp_path_factory.mktemp("app") / "tiny", workers=1)
    from retailsim.loyalty import assign
    from retailsim.ml.config import MLConfig
    from retailsim.ml.train import train
    from retailsim.quality.engine import run_validation

    assign(ds)
    (ds.path / "quality").mkdir()
    (ds.path / "quality" / "report.json").write_text(run_validation(ds).to_json(), encoding="utf-8")
    train(ds, MLConfig(models=("zero", "last30", "hurdle", "lr"), train_cutoffs=3))
    return ds


def strip_tables(src: Path, dst: Path, drop: set[str]) -> Path:
    """Copy a dataset without some tables (files and manifest entries) and without any derived output
    (loyalty history, validation report, quarantine, models): a dataset "missing optional parts"."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*DERIVED))
    m = json.loads((dst / "manifest.json").read_text())
    for f in m["files"]:
        if f["table"] in drop:
            (dst / f["path"]).unlink()
    m["files"] = [f for f in m["files"] if f["table"] not in drop]
    m["tables"] = {t: v for t, v in m["tables"].items() if t not in drop}
    (dst / "manifest.json").write_text(json.dumps(m, indent=2))
    return dst


@pytest.fixture(scope="session")
def bare_dataset(app_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The tiny dataset without promotions, line items and ground truth, and with no derived outputs."""
    dst = tmp_path_factory.mktemp("bare") / "bare"
    strip_tables(app_dataset.path, dst, {"promotions", "transaction_lines", "customer_truth", "calendar"})
    return Dataset(dst)


@pytest.fixture(scope="session")
def imported_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The real CDNOW sample log (customer, date, CDs, dollars) imported with ``retailsim import``, with its
    loyalty tiers assigned and a model trained on it (no stores, products or demographics in this log)."""
    src = CDNOW  # shipped with the tests (tests/data/cdnow_sample/README.md: provenance)
    from retailsim.fidelity.importer import import_log

    out = tmp_path_factory.mktemp("cdnow") / "cdnow"
    res = import_log(
        src,
        out,
        mapping={"customer_id": "cust", "timestamp": "date", "amount": "dollars", "quantity": "cds"},
        date_format="%Y%m%d",
    )
    ds = res.dataset
    from retailsim.loyalty import assign
    from retailsim.ml.config import MLConfig
    from retailsim.ml.train import train

    assign(ds)
    train(ds, MLConfig(models=("zero", "last30", "hurdle"), train_cutoffs=3))
    return ds


@pytest.fixture(scope="session")
def defect_dataset(app_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The tiny dataset with three planted defects: quantities 999 and -2 on two lines, an unknown store
    format. (Checksums in the manifest are left stale, as a hand-edited file would be.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dst = strip_tables(app_dataset.path, tmp_path_factory.mktemp("defect") / "defect", set())
    lines = sorted((dst / "transaction_lines").glob("*/*.parquet"))[0]
    t = pq.read_table(lines)
    q = t.column("quantity").to_pylist()
    q[0], q[1] = 999, -2
    t = t.set_column(
        t.schema.get_field_index("quantity"), t.schema.field("quantity"), pa.array(q, pa.int32())
    )
    pq.write_table(t, lines, compression="zstd")
    stores = next((dst / "stores").glob("*.parquet"))
    t = pq.read_table(stores)
    f = t.column("format").to_pylist()
    f[0] = "megastore"
    t = t.set_column(t.schema.get_field_index("format"), t.schema.field("format"), pa.array(f, pa.string()))
    pq.write_table(t, stores, compression="zstd")
    return Dataset(dst)
