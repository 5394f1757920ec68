"""An imported log's own customer ids (``customers.external_id``) work wherever a user names a customer and
come back wherever customers are listed: the library, ``ml predict``/``ml score``, ``export``, the HTTP API and
the dashboard's batch upload."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from retailsim.cli import app
from retailsim.export import export_flat
from retailsim.ml.config import MLConfig
from retailsim.ml.errors import UnknownCustomerError
from retailsim.ml.predict import Predictor, load_model
from retailsim.ml.train import train
from retailsim.storage.customer_ids import by_source_id, has_source_ids, resolve, source_ids
from retailsim.storage.dataset import Dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def ids(cdnow: Dataset) -> pd.DataFrame:
    """customer_id and external_id of the imported CDNOW sample."""
    return cdnow.read("customers", ["customer_id", "external_id"]).to_pandas()


@pytest.fixture(scope="module")
def cdnow_model(
    cdnow: Dataset, tmp_path_factory: pytest.TempPathFactory, ml_config: Callable[..., MLConfig]
) -> Path:
    out = tmp_path_factory.mktemp("cdnow_model")
    train(cdnow, ml_config("zero,lr", "report=false"), model_dir=out)
    return out


@pytest.fixture(scope="module")
def swapped(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A log whose source ids read as numbers but are not the surrogate ids: customer "2" buys first (so it
    is customer_id 1), customer "1" second (customer_id 2)."""
    from retailsim.fidelity.importer import import_log

    root = tmp_path_factory.mktemp("swapped")
    log = root / "log.csv"
    log.write_text(
        "customer_id,timestamp,amount\n2,2024-01-01,10\n1,2024-01-02,20\n2,2024-01-09,5\n",
        encoding="utf-8",
    )
    return import_log(log, root / "ds").dataset


def _other(ids: pd.DataFrame) -> tuple[int, str]:
    """A CDNOW customer (its surrogate id and source id, e.g. 2 and "0002")."""
    row = ids.sort_values("customer_id").iloc[1]
    return int(row["customer_id"]), str(row["external_id"])


def test_a_number_is_the_surrogate_id_and_text_a_source_id(swapped: Dataset) -> None:
    r = resolve(swapped, ["2", " 2 ", 2, "1", 1, "3", "x"])
    assert r.ids == [1, 1, 2, 2, 1, 3, None]  # "3" is no source id: read as surrogate 3 (unknown)
    assert r.by_source == [True, True, False, True, False, False, False]
    assert source_ids(swapped, [1, 2]) == ["2", "1"]


def test_resolution_on_imported_and_generated_data(
    cdnow: Dataset, tiny_dataset: Dataset, ids: pd.DataFrame
) -> None:
    cid, ext = _other(ids)
    assert has_source_ids(cdnow) and not has_source_ids(tiny_dataset)
    r = resolve(cdnow, [ext, f"  {ext} ", cid, "no-such-id", None, True])
    assert r.ids == [cid, cid, cid, None, None, None] and r.by_source == [True, True] + [False] * 4
    assert r.source_ids_exist
    assert by_source_id(cdnow, [ext, "x"]) == {ext: cid}
    assert source_ids(cdnow, [cid, None, 10**9]) == [ext, None, None]
    g = resolve(tiny_dataset, ["17", 17, 17.0, "1.5", "A7"])
    assert g.ids == [17, 17, 17, None, None] and not g.source_ids_exist
    assert source_ids(tiny_dataset, [1, 2]) == [None, None]


def test_library_scores_and_predicts_by_source_id(
    cdnow: Dataset, cdnow_model: Path, ids: pd.DataFrame
) -> None:
    p: Predictor = load_model(cdnow_model)
    everyone = p.score(cdnow, as_of="1998-05-31")
    assert list(everyone.columns[:2]) == ["customer_id", "external_id"]
    want = dict(zip(ids["customer_id"], ids["external_id"], strict=True))
    assert everyone["external_id"].tolist() == [want[c] for c in everyone["customer_id"]]
    cid, ext = _other(ids)
    some = p.score(cdnow, [ext, cid, "no-such-id"], as_of="1998-05-31")
    assert some["customer_id"].tolist()[:2] == [cid, cid]
    assert some["external_id"].tolist()[:2] == [ext, ext]
    assert some["status"].tolist() == ["ok", "ok", "unknown_customer"]
    assert "no-such-id" in some["message"].iloc[2]
    one = p.predict_customer(cdnow, ext, as_of="1998-05-31")
    assert (one.customer_id, one.external_id) == (cid, ext)
    assert one.spend == pytest.approx(float(some["spend"].iloc[0]))
    with pytest.raises(UnknownCustomerError, match="no-such-id"):
        p.predict_customer(cdnow, "no-such-id")


def test_cli_predict_and_score_take_source_ids(
    cdnow: Dataset, cdnow_model: Path, ids: pd.DataFrame, tmp_path: Path
) -> None:
    cid, ext = _other(ids)
    res = runner.invoke(
        app, ["ml", "predict", str(cdnow.path), "--customer", ext, "--model", str(cdnow_model)]
    )
    assert res.exit_code == 0, res.output
    assert f"customer {cid} (source id {ext})" in res.output
    wanted = tmp_path / "ids.csv"
    wanted.write_text(f"external_id\n{ext}\nnope\n", encoding="utf-8")
    out = tmp_path / "scores.csv"
    res = runner.invoke(
        app,
        ["ml", "score", str(cdnow.path), "--customers", str(wanted), "--out", str(out),
         "--model", str(cdnow_model)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, dtype={"external_id": str})
    assert got["external_id"].iloc[0] == ext and got["customer_id"].iloc[0] == cid
    assert got["status"].tolist() == ["ok", "unknown_customer"]
    bad = tmp_path / "bad.csv"
    bad.write_text("who\tx\n1\t2\n", encoding="utf-8")
    res = runner.invoke(
        app, ["ml", "score", str(cdnow.path), "--customers", str(bad), "--out", str(tmp_path / "o.csv")]
    )
    assert res.exit_code != 0 and "customer_id" in res.output and "Traceback" not in res.output


def test_flat_export_keeps_source_ids_and_skips_absent_columns(
    cdnow: Dataset, tiny_dataset: Dataset, tmp_path: Path
) -> None:
    n = export_flat(cdnow.path, tmp_path / "cdnow.parquet")
    flat = pd.read_parquet(tmp_path / "cdnow.parquet")
    assert n == len(flat) == cdnow.rows("transaction_lines")
    assert "external_id" in flat.columns and flat["external_id"].notna().all()
    for absent in cdnow.absent_columns("customers"):
        assert absent not in flat.columns
    export_flat(tiny_dataset.path, tmp_path / "tiny.parquet")
    tiny = pd.read_parquet(tmp_path / "tiny.parquet")
    assert "external_id" not in tiny.columns and {"store_name", "product_name"} <= set(tiny.columns)


def test_api_accepts_external_ids(cdnow: Dataset, cdnow_model: Path, ids: pd.DataFrame) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "api"))
    from api_helpers import TestClient, make_app

    from retailsim.api.service import ScoringService
    from retailsim.api.settings import ApiSettings

    cid, ext = _other(ids)
    service = ScoringService.load(cdnow.path, cdnow_model, ApiSettings(), warm=False)
    with TestClient(make_app(service)) as c:
        r = c.post("/predict", json={"external_id": ext})
        assert r.status_code == 200, r.text
        assert (r.json()["customer_id"], r.json()["external_id"]) == (cid, ext)
        r = c.post("/predict", json={"customer_id": cid})
        assert r.json()["external_id"] == ext
        r = c.post("/predict", json={"external_id": "nope"})
        assert r.status_code == 404 and r.json()["field"] == "external_id" and r.json()["id"] == "nope"
        for both_or_none in ({"customer_id": cid, "external_id": ext}, {}):
            r = c.post("/predict", json=both_or_none)
            assert r.status_code == 422 and "exactly one" in r.json()["message"]
        r = c.post("/score", json={"external_ids": [ext, "nope", ext]})
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        assert [(x["customer_id"], x["external_id"], x["status"]) for x in rows] == [
            (cid, ext, "ok"),
            (None, "nope", "unknown_customer"),
            (cid, ext, "ok"),
        ]
        r = c.post("/score", json={"external_ids": [ext], "customer_ids": [cid]})
        assert r.status_code == 422


def test_dashboard_upload_takes_source_ids(cdnow: Dataset, ids: pd.DataFrame) -> None:
    from retailsim.app.views.batch import parse_upload

    cid, ext = _other(ids)
    day = dt.date(1998, 5, 31)
    rows = parse_upload(f"external_id\n{ext}\nnope\n".encode(), day, lambda v: by_source_id(cdnow, v))
    assert rows["customer_id"].iloc[0] == cid and rows["reason"].iloc[0] is None
    assert "no customer has this source id" in rows["reason"].iloc[1]
    plain = parse_upload(f"customer_id\n{ext}\n".encode(), day, lambda v: by_source_id(cdnow, v))
    assert plain["customer_id"].iloc[0] == cid  # typed text: the source id wins
