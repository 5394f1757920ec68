"""Slow end-to-end checks: the demo preset is in band, calibration recovers known parameters, and the
CDNOW twin reproduces the real log's facts (the issue's acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fidelity_support import CDNOW_CSV
from retailsim.cli import app
from retailsim.config import build_config, load_config
from retailsim.fidelity.calibrate import calibrate
from retailsim.fidelity.compare import TWIN_FACTS, TWIN_TOLERANCE, compare
from retailsim.fidelity.facts import compute_facts
from retailsim.generate.runner import generate
from retailsim.storage.dataset import Dataset

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_demo_preset_passes_the_bands(tmp_path: Path) -> None:
    generate(build_config("demo"), tmp_path / "demo", workers=2)
    res = runner.invoke(app, ["facts", str(tmp_path / "demo"), "--check"])
    assert res.exit_code == 0, res.output
    assert " out " not in res.output


def test_calibration_recovers_the_simulators_parameters(tmp_path: Path) -> None:
    sets = [
        "customers.count=6000",
        "customers.existing_share=0",
        "customers.signup_window_days=120",
        "customers.purchase_rate.mean=0.02",
        "customers.purchase_rate.shape=0.7",
        "customers.lifetime_days.mean=0.004",
        "customers.lifetime_days.shape=1.2",
        "anonymous.share=0",
        "products.count=300",
        "shard_customers=3000",
    ]
    ds = generate(build_config("demo", sets=sets), tmp_path / "known", workers=2)
    cal = calibrate(ds, refine=False)
    fit = cal.pareto_nbd
    assert fit.r == pytest.approx(0.7, rel=0.2)
    assert fit.purchase_rate_mean == pytest.approx(0.02, rel=0.1)
    assert fit.s == pytest.approx(1.2, rel=0.4)
    assert fit.dropout_mean == pytest.approx(0.004, rel=0.25)
    assert cal.acquisition["existing_share"] == 0.0
    assert abs(cal.acquisition["signup_window_days"] - 120) <= 1  # the span of first purchase days
    # a twin of a generated dataset matches its mean transaction value (the price scale is fitted)
    twin_cfg = cal.config
    assert 0.5 < twin_cfg.products.price_scale < 2


def test_cdnow_twin_end_to_end(tmp_path: Path) -> None:
    """import → facts → calibrate → generate → compare on the shipped real log, via the command line."""
    real, twin, yaml = tmp_path / "cdnow", tmp_path / "twin", tmp_path / "twin.yaml"
    mapping = "customer_id=cust,timestamp=date,amount=dollars,quantity=cds"
    res = runner.invoke(
        app, ["import", str(CDNOW_CSV), "--out", str(real), "--map", mapping, "--date-format", "%Y%m%d"]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["facts", str(real), "--json", str(tmp_path / "real.json")])
    assert res.exit_code == 0, res.output
    # a twin ten times the log's size: its facts are the process's, not sampling noise
    res = runner.invoke(
        app,
        [
            "calibrate",
            str(real),
            "--out",
            str(yaml),
            "--customers",
            "23570",
            "--json",
            str(tmp_path / "cal.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    cfg = load_config(yaml)
    assert cfg.horizon.start.isoformat() == "1997-01-01" and cfg.horizon.months == 18
    assert cfg.customers.existing_share == 0 and cfg.customers.signup_window_days is not None
    assert cfg.customers.signup_window_days <= 91 and cfg.anonymous.share == 0
    estimates = json.loads((tmp_path / "cal.json").read_text())
    assert estimates["pareto_nbd"]["customers"] == 2357
    res = runner.invoke(
        app, ["generate", "--config", str(yaml), "--out", str(twin), "--workers", "2", "--quiet"]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "compare",
            str(real),
            str(twin),
            "--html",
            str(tmp_path / "report.html"),
            "--json",
            str(tmp_path / "cmp.json"),
            "--check",
        ],
    )
    assert res.exit_code == 0, res.output
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    rows = {r["fact"]: r for r in cmp["rows"]}
    table = "\n".join(
        f"{f:32s} real {rows[f]['real']:10.4f} twin {rows[f]['synthetic']:10.4f} {rows[f]['rel_diff']:+.1%}"
        for f in TWIN_FACTS
    )
    print("\n" + table)
    for f in TWIN_FACTS:
        assert abs(rows[f]["rel_diff"]) <= TWIN_TOLERANCE, table
    html = (tmp_path / "report.html").read_text()
    assert "twin check passed" in html and "<script src=" not in html
    # the library API gives the same verdict
    assert compare(Dataset(real), Dataset(twin), tstr=False).passed
    assert compute_facts(Dataset(twin)).values["customers"] == 23570
