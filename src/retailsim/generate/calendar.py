"""Daily shopping intensity: weekly profile, smooth yearly cycle, December lift and holidays."""

from __future__ import annotations

import datetime as dt

import numpy as np

from retailsim.config import SeasonalityConfig

EPOCH = np.datetime64("1970-01-01", "D")


def day_numbers(start: dt.date, n_days: int) -> np.ndarray:
    """``datetime64[D]`` of the ``n_days`` days from ``start``."""
    return np.datetime64(start, "D") + np.arange(n_days)


def intensity(cfg: SeasonalityConfig, start: dt.date, n_days: int) -> np.ndarray:
    """Relative intensity of each day, normalised so a plain weekday of an average month is about 1.

    The function depends only on the date, so any window (also one beyond the horizon) gets the same value.
    """
    days = day_numbers(start, n_days)
    weekday = (days.astype("int64") - 4) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekly = np.asarray(cfg.weekday_weights, dtype=float)
    weekly = weekly / weekly.mean()
    years = days.astype("datetime64[Y]")
    doy = (days - years.astype("datetime64[D]")).astype("int64") + 1
    yearly = 1 + cfg.yearly_amplitude * np.cos(2 * np.pi * (doy - cfg.yearly_peak_day) / 365.25)
    months = (days.astype("datetime64[M]").astype("int64") % 12) + 1
    dom = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype("int64") + 1
    out = weekly[weekday] * yearly
    out = np.where(months == 12, out * cfg.december_lift, out)
    for h in cfg.holidays:
        on_month = months == h.month
        if h.ramp_days:
            dist = h.day - dom
            ramp = on_month & (dist >= 0) & (dist <= h.ramp_days)
            factor = 1 + (h.lift - 1) * (1 - dist / (h.ramp_days + 1))
            out = np.where(ramp, out * factor, out)
        else:
            out = np.where(on_month & (dom == h.day), out * h.lift, out)
    for key, factor in cfg.month_factors.items():
        out = np.where(days.astype("datetime64[M]") == np.datetime64(key, "M"), out * factor, out)
    return out


def cumulative(intens: np.ndarray) -> np.ndarray:
    """Cumulative intensity at day boundaries: ``C[k] = sum(intens[:k])`` (length n + 1)."""
    return np.concatenate([[0.0], np.cumsum(intens)])


def integrate(cum: np.ndarray, intens: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cumulative intensity at continuous times ``t`` (days since start, clipped to the horizon)."""
    n = len(intens)
    t = np.clip(t, 0.0, float(n))
    k = np.minimum(np.floor(t).astype(np.int64), n - 1)
    return cum[k] + intens[k] * (t - k)


def invert(cum: np.ndarray, intens: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Times ``t`` with ``integrate(t) == u``: turns uniform cumulative intensity into event times."""
    n = len(intens)
    k = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, n - 1)
    return k + (u - cum[k]) / np.maximum(intens[k], 1e-12)
