"""Predictions over HTTP equal `retailsim ml predict` / `ml score` (and the library) for the same inputs,
with and without the per-date cache."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from api_helpers import TestClient, make_app
from typer.testing import CliRunner

from retailsim.api.service import ScoringService
from retailsim.api.settings import ApiSettings
from retailsim.cli import app as cli_app
from retailsim.storage.dataset import Dataset

runner = CliRunner()


def cli_predict(
    ds: Dataset, model: Path, cid: int, as_of: str | None = None, today: Path | None = None
) -> Any:
    args = ["ml", "predict", str(ds.path), "--customer", str(cid), "--model", str(model), "--json"]
    if as_of:
        args += ["--as-of", as_of]
    if today:
        args += ["--today", str(today)]
    res = runner.invoke(cli_app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def same_prediction(http: dict[str, Any], cli: dict[str, Any]) -> None:
    assert http["customer_id"] == cli["customer_id"]
    assert http["as_of"] == cli["as_of"]
    assert http["predicted_spend"] == cli["spend"]
    assert http["p_buy"] == cli["p_buy"]
    assert (http["interval"]["lo"], http["interval"]["hi"], http["interval"]["level"]) == (
        cli["lo"],
        cli["hi"],
        cli["interval"],
    )
    assert http["segment"] == cli["segment"]
    assert http["with_basket"] == cli["with_basket"]
    assert http["model_id"] == cli["model_id"]


@pytest.fixture(scope="module")
def uncached(api_service: ScoringService) -> ScoringService:
    """The same model and dataset without any cache: every request goes straight to the library."""
    return ScoringService(api_service.ds, api_service.predictor, ApiSettings(cache_dates=0))


@pytest.mark.parametrize("use_cache", [True, False])
def test_predict_equals_ml_predict(
    api_service: ScoringService,
    uncached: ScoringService,
    tiny_dataset: Dataset,
    api_model: Path,
    customers: list[Any],
    catalogue: tuple[int, int],
    tmp_path: Path,
    use_cache: bool,
) -> None:
    svc = api_service if use_cache else uncached
    store, product = catalogue
    basket = {"store_id": store, "items": [{"product_id": product, "quantity": 3, "discount_pct": 0.2}]}
    (tmp_path / "basket.json").write_text(json.dumps(basket))
    earlier = (svc.default_as_of - dt.timedelta(days=60)).isoformat()
    with TestClient(make_app(svc)) as c:
        for cid, as_of, today in [
            (customers[0][0], None, None),
            (customers[7][0], earlier, None),
            (customers[3][0], None, basket),
        ]:
            body: dict[str, Any] = {"customer_id": cid, "as_of": as_of, "today": today}
            r = c.post("/predict", json=body)
            assert r.status_code == 200, r.text
            cli = cli_predict(
                tiny_dataset, api_model, cid, as_of, tmp_path / "basket.json" if today else None
            )
            same_prediction(r.json(), cli)


def test_every_cached_row_equals_predict_customer(api_service: ScoringService, customers: list[Any]) -> None:
    """The per-date cache holds `Predictor.score(ds, None, day)`; each row must be what `predict_customer`
    (the `ml predict` path, features of that one customer) gives."""
    table = api_service._table(api_service.default_as_of)
    assert table is not None and len(table) > 0
    for cid in list(table.index)[:: max(1, len(table) // 6)]:
        p = api_service.predictor.predict_customer(api_service.ds, int(cid))
        row = table.loc[cid]
        assert (p.spend, p.p_buy, p.lo, p.hi, p.segment) == (
            row["spend"],
            row["p_buy"],
            row["lo"],
            row["hi"],
            row["segment"],
        )


@pytest.mark.parametrize("use_cache", [True, False])
def test_score_equals_ml_score(
    api_service: ScoringService,
    uncached: ScoringService,
    tiny_dataset: Dataset,
    api_model: Path,
    customers: list[Any],
    tmp_path: Path,
    use_cache: bool,
) -> None:
    svc = api_service if use_cache else uncached
    ids = [c[0] for c in customers[::9]] + [424_242]
    as_of = (svc.default_as_of - dt.timedelta(days=30)).isoformat()
    pd.DataFrame({"customer_id": ids}).to_csv(tmp_path / "ids.csv", index=False)
    out = tmp_path / "scores.parquet"
    args = ["ml", "score", str(tiny_dataset.path), "--out", str(out), "--as-of", as_of]
    res = runner.invoke(cli_app, [*args, "--model", str(api_model), "--customers", str(tmp_path / "ids.csv")])
    assert res.exit_code == 0, res.output
    cli = pd.read_parquet(out)
    with TestClient(make_app(svc)) as c:
        r = c.post("/score", json={"customer_ids": ids, "as_of": as_of})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert len(rows) == len(cli)
    for row, (_, ref) in zip(rows, cli.iterrows(), strict=True):
        assert row["customer_id"] == ref["customer_id"]
        assert row["status"] == ref["status"]
        if ref["status"] == "ok":
            assert row["predicted_spend"] == ref["spend"]
            assert row["p_buy"] == ref["p_buy"]
            assert (row["interval"]["lo"], row["interval"]["hi"]) == (ref["lo"], ref["hi"])
            assert row["segment"] == ref["segment"]
        else:
            assert row["predicted_spend"] is None and row["error"] == ref["message"]


def test_cache_is_bounded(api_service: ScoringService) -> None:
    svc = ScoringService(api_service.ds, api_service.predictor, ApiSettings(cache_dates=2), warm=False)
    days = [api_service.default_as_of - dt.timedelta(days=d) for d in (0, 10, 20)]
    for d in days:
        svc._table(d)
    assert list(svc._tables) == days[1:]
    svc.clear_cache()
    assert not svc._tables
