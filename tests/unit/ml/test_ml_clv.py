"""BG/NBD and Gamma-Gamma: the numpy likelihoods equal pymc-marketing's, the fits recover the published CDNOW
estimates, the closed forms equal pymc-marketing's predictions, and degenerate inputs get neutral parameters."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retailsim.ml.clv import (
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    fit_bgnbd,
    fit_clv,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    gamma_gamma_spend,
)

CDNOW = Path(__file__).resolve().parents[2] / "data" / "cdnow_sample" / "cdnow_sample.csv"
BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def _cdnow_calibration() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, t_x, T (weeks) and mean repeat spend of the 2,357 CDNOW sample customers over weeks 1–39 (to
    1997-09-30), purchases on one day counted once — the calibration data of Fader, Hardie & Lee (2005)."""
    raw = pd.read_csv(CDNOW, dtype={"cust": str})
    raw["d"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    day = raw.groupby(["cust", "d"], as_index=False)["dollars"].sum()
    end = pd.Timestamp("1997-09-30")
    first = day.groupby("cust")["d"].min()
    cal = day[day["d"] <= end]
    g = cal.groupby("cust")
    x = (g.size() - 1).to_numpy(dtype=float)
    tx = ((g["d"].max() - first).dt.days / 7).to_numpy()
    T = (((end - first).dt.days + 1) / 7).to_numpy()
    repeat = cal[cal["d"] > cal["cust"].map(first)]
    m = repeat.groupby("cust")["dollars"].mean().reindex(g.size().index).fillna(0.0).to_numpy()
    return x, tx, T, m


def _random_rfm(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 8, n).astype(float)
    T = rng.uniform(20, 400, n)
    tx = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    m = np.where(x > 0, rng.uniform(3, 80, n), 0.0)
    return x, tx, T, m


def test_fits_recover_the_published_cdnow_estimates() -> None:
    x, tx, T, m = _cdnow_calibration()
    assert len(x) == 2357 and x.sum() == 2457  # the paper's 2,457 repeat purchases
    bg = fit_bgnbd(x, tx, T)
    assert bg is not None
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 (a and b lie on a flat ridge)
    assert bg["r"] == pytest.approx(BG["r"], rel=0.02) and bg["alpha"] == pytest.approx(BG["alpha"], rel=0.02)
    assert bg["a"] == pytest.approx(BG["a"], rel=0.05) and bg["b"] == pytest.approx(BG["b"], rel=0.05)
    assert bgnbd_log_likelihood(bg, x, tx, T).sum() >= bgnbd_log_likelihood(BG, x, tx, T).sum()
    # Fader, Hardie & Lee (2005b): p = 6.25, q = 3.74, v = 15.44 from the 946 repeat buyers
    gg = fit_gamma_gamma(x, m)
    assert gg is not None and ((x > 0) & (m > 0)).sum() == 946
    for k in GG:
        assert gg[k] == pytest.approx(GG[k], rel=0.01)


def test_likelihoods_equal_pymc_marketing() -> None:
    pytest.importorskip("pymc_marketing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pytensor.tensor as pt
        from pymc_marketing.clv import GammaGammaModel
        from pymc_marketing.clv.distributions import BetaGeoNBD

    x, tx, T, m = _random_rfm(60, 3)
    ref = BetaGeoNBD.logp(
        pt.as_tensor(np.stack([tx, x], axis=-1)),
        *(pt.as_tensor(BG[k]) for k in ("a", "b", "r", "alpha")),
        pt.as_tensor(T),
    ).eval()
    np.testing.assert_allclose(bgnbd_log_likelihood(BG, x, tx, T), ref, rtol=1e-10)
    rep = x > 0
    data = pd.DataFrame({"customer_id": np.arange(rep.sum()), "frequency": x[rep], "monetary_value": m[rep]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GammaGammaModel(data=data)
        model.build_model()
        logp = model.model.compile_logp(vars=model.model.potentials, jacobian=False, sum=False)
    got = logp({f"{k}_log__": np.log(v) for k, v in GG.items()})[0]
    np.testing.assert_allclose(gamma_gamma_log_likelihood(GG, x[rep], m[rep]), got, rtol=1e-10)


def test_closed_forms_equal_pymc_marketing_predictions() -> None:
    pytest.importorskip("pymc_marketing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    x, tx, T, m = _random_rfm(80, 5)
    bg = {"r": 0.24, "alpha": 30.0, "a": 0.8, "b": 2.4}
    rfm = pd.DataFrame({"customer_id": np.arange(len(x)), "frequency": x, "recency": tx, "T": T})
    rep = pd.DataFrame({"customer_id": np.arange(len(x)), "frequency": x, "monetary_value": m})[x > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgm = BetaGeoModel(data=rfm)
        bgm.build_model()
        bgm.idata = az.from_dict(posterior={k: np.array([[v]]) for k, v in bg.items()})
        ggm = GammaGammaModel(data=rep)
        ggm.build_model()
        ggm.idata = az.from_dict(posterior={k: np.array([[v]]) for k, v in GG.items()})
        purchases = bgm.expected_purchases(data=rfm, future_t=30).values.ravel()
        alive = bgm.expected_probability_alive(data=rfm).values.ravel()
        spend = ggm.expected_customer_spend(data=rep).values.ravel()
    np.testing.assert_allclose(bgnbd_expected_purchases(bg, 30.0, x, tx, T), purchases, rtol=1e-8)
    np.testing.assert_allclose(bgnbd_p_alive(bg, x, tx, T), alive, rtol=1e-8)
    np.testing.assert_allclose(
        gamma_gamma_spend(GG, rep["frequency"], rep["monetary_value"]), spend, rtol=1e-8
    )


def test_fit_clv_samples_by_seed_and_falls_back_on_degenerate_data() -> None:
    x, tx, T, m = _random_rfm(400, 7)
    rfm = pd.DataFrame({"frequency": x, "recency": tx, "T": T, "monetary_value": m})
    a = fit_clv(rfm, max_customers=150, seed=1)
    assert a == fit_clv(rfm, max_customers=150, seed=1) and a["customers"] == 150 and not a["fallback"]
    assert a != fit_clv(rfm, max_customers=150, seed=2)
    # nobody came back: no BG/NBD or Gamma-Gamma to fit, neutral parameters with finite predictions
    once = rfm.assign(frequency=0.0, recency=0.0, monetary_value=0.0)
    f = fit_clv(once)
    assert set(f["fallback"]) == {"bg", "gg"}
    e = bgnbd_expected_purchases(f["bg"], 30.0, once["frequency"], once["recency"], once["T"])
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert np.all(np.isfinite(gamma_gamma_spend(f["gg"], once["frequency"], once["monetary_value"])))
    # too few customers to fit at all
    tiny = fit_clv(rfm.head(3))
    assert tiny["customers"] == 3 and "bg" in tiny["fallback"]
