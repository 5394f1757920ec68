"""Bands of FIDELITY.md: encoded once, checked against fact reports."""

from __future__ import annotations

import datetime as dt

from retailsim.fidelity.bands import BANDS, check_bands
from retailsim.fidelity.facts import FACT_INDEX, FactReport


def _report(**values: float | None) -> FactReport:
    return FactReport("x", "generated", dt.date(2024, 1, 1), dt.date(2025, 1, 1), dict(values))


def test_every_band_names_a_scalar_fact_once() -> None:
    assert len(BANDS) == 17  # the rows of FIDELITY.md's table
    assert len({b.fact for b in BANDS}) == len(BANDS)
    for b in BANDS:
        assert FACT_INDEX[b.fact].kind == "scalar"
        assert b.hi is None or b.lo < b.hi


def test_ok_out_and_not_available() -> None:
    res = {r.band.fact: r for r in check_bands(_report(one_time_buyer_share=0.2, weekend_share=0.5))}
    assert res["one_time_buyer_share"].status == "ok"
    assert res["weekend_share"].status == "out"
    assert res["december_lift"].status == "n/a" and res["december_lift"].value is None
    assert res["weekend_share"].value_text == "50.0%"
    assert res["frequency_skew"].band_text == "1.2 – ∞"


def test_band_edges_are_inclusive() -> None:
    res = {r.band.fact: r for r in check_bands(_report(top20_revenue_share=0.55, frequency_skew=1.2))}
    assert res["top20_revenue_share"].status == "ok"
    assert res["frequency_skew"].status == "ok"
