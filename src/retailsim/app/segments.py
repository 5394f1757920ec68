"""Value segments shown on the Customer 360 and Batch scoring pages (one definition for both)."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS = ("Top 1%", "Top 10%", "Top 25%", "Middle 50%", "Bottom 25%", "Dormant")
"""From most to least valuable; ``Dormant`` = no expected or recent activity."""


def value_segments(
    value: pd.Series | np.ndarray, *, dormant: pd.Series | np.ndarray | None = None
) -> pd.Series:
    """Segment each customer by the percentile of ``value`` among customers with a positive value.

    Parameters
    ----------
    value
        Historical spend (profile) or predicted spend (scoring), one per customer.
    dormant
        Optional boolean mask forcing ``Dormant`` (e.g. P(buy) < 0.1, or no purchase in 12 months).

    Returns
    -------
    pandas.Series
        Ordered categorical with :data:`SEGMENTS` as categories.
    """
    v = pd.Series(np.asarray(value, dtype=float))
    pos = v[v > 0]
    out = pd.Series(["Dormant"] * len(v), dtype=object)
    if len(pos):
        rank = pos.rank(pct=True, method="max")
        seg = np.select(
            [rank > 0.99, rank > 0.90, rank > 0.75, rank > 0.25],
            ["Top 1%", "Top 10%", "Top 25%", "Middle 50%"],
            default="Bottom 25%",
        )
        out.loc[pos.index] = seg
    if dormant is not None:
        out[np.asarray(dormant, dtype=bool)] = "Dormant"
    return pd.Series(
        pd.Categorical(out, categories=list(SEGMENTS), ordered=True), index=getattr(value, "index", None)
    )
