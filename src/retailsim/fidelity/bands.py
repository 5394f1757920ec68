"""Target bands for the facts of retailsim's default behaviour (the table of the project's FIDELITY.md).

The bands rule out data no real multi-format grocery/general retailer produces; they are deliberately wide.
``retailsim facts DATASET --check`` compares a dataset's facts with them. Each row names the FIDELITY.md row
it encodes; ``docs/facts.md`` renders this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from retailsim.fidelity.facts import FACT_INDEX, FactReport, format_value

Status = Literal["ok", "out", "n/a"]


@dataclass(frozen=True)
class Band:
    """``lo ≤ value ≤ hi`` (``hi=None``: no upper bound) for fact ``fact``."""

    name: str  # the FIDELITY.md row
    fact: str
    lo: float
    hi: float | None


BANDS: tuple[Band, ...] = (
    Band("one-time-buyer share", "one_time_buyer_share", 0.10, 0.45),
    Band("purchases per active customer", "purchases_per_customer_mean", 4, 60),
    Band("frequency skew", "frequency_skew", 1.2, None),
    Band("revenue concentration", "top20_revenue_share", 0.55, 0.85),
    Band("top 1% share", "top1_revenue_share", 0.04, 0.20),
    Band("median inter-purchase time", "median_interpurchase_days", 3, 30),
    Band("basket size", "basket_size_mean", 3, 15),
    Band("basket size spread", "basket_small_share", 0.10, 0.50),
    Band("weekend share", "weekend_share", 0.30, 0.45),
    Band("December lift", "december_lift", 1.10, 1.60),
    Band("weekly shape", "weekly_shape", 1.2, 2.5),
    Band("3-month cohort retention", "cohort_retention_3m", 0.25, 0.70),
    Band("12-month cohort retention", "cohort_retention_12m", 0.10, 0.50),
    Band("promotion share", "promotion_share", 0.05, 0.35),
    Band("private label share", "private_label_share", 0.10, 0.40),
    Band("top category share", "top_category_share", 0.10, 0.40),
    Band("anonymous share", "anonymous_share", 0.0, 0.50),
)


@dataclass(frozen=True)
class BandResult:
    """One band checked against one dataset."""

    band: Band
    value: float | None
    status: Status

    @property
    def band_text(self) -> str:
        hi = "∞" if self.band.hi is None else f"{self.band.hi:g}"
        return f"{self.band.lo:g} – {hi}"

    @property
    def value_text(self) -> str:
        return format_value(FACT_INDEX[self.band.fact], self.value)


def check_bands(report: FactReport, bands: tuple[Band, ...] = BANDS) -> list[BandResult]:
    """Compare ``report`` with ``bands``: ``ok``, ``out`` (outside the band) or ``n/a`` (fact not available).

    Parameters
    ----------
    report
        Facts of a dataset (:func:`retailsim.fidelity.facts.compute_facts`).
    bands
        The bands to check (default: FIDELITY.md's).

    Returns
    -------
    list[BandResult]
        One result per band, in the order of ``bands``.
    """
    results = []
    for b in bands:
        v = report.get(b.fact)
        if v is None or isinstance(v, dict):
            results.append(BandResult(b, None, "n/a"))
            continue
        x = float(v)
        ok = x >= b.lo and (b.hi is None or x <= b.hi)
        results.append(BandResult(b, x, "ok" if ok else "out"))
    return results
