"""The demo preset looks like retail: concentration, one-time buyers, weekend and December peaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from retailsim.config import build_config
from retailsim.fidelity.facts import core_facts
from retailsim.generate.runner import generate


@pytest.mark.slow
def test_demo_preset_has_retail_shape(tmp_path: Path) -> None:
    ds = generate(build_config("demo"), tmp_path / "demo", workers=2)
    assert 800_000 < ds.rows("transaction_lines") < 1_600_000  # "~1M line items"
    f = core_facts(ds)
    assert 0.55 <= f["top20_revenue_share"] <= 0.85  # a minority brings most revenue
    assert 0.04 <= f["top1_revenue_share"] <= 0.20
    assert 0.10 <= f["one_time_buyer_share"] <= 0.45  # many buy once
    assert f["frequency_skew"] >= 1.2
    assert 0.30 <= f["weekend_share"] <= 0.45 and f["weekend_share"] > 2 / 7  # weekends busier
    assert 1.10 <= f["december_lift"] <= 1.60  # December busier
    assert 3 <= f["median_interpurchase_days"] <= 30
    con = ds.connect()
    busiest = con.execute(
        "SELECT dayname(txn_ts) d FROM transactions GROUP BY d ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    assert busiest == "Saturday"
