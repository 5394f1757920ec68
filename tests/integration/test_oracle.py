"""The oracle equals the mean of many futures simulated with the generator's own code."""

from __future__ import annotations

import numpy as np
import pytest

from retailsim.errors import RetailsimError
from retailsim.generate.oracle import expected_spend, simulate_future_spend
from retailsim.storage.dataset import Dataset


def test_oracle_matches_monte_carlo(small_dataset: Dataset) -> None:
    cutoff = "2024-07-31"
    o = expected_spend(small_dataset, cutoff, horizon_days=30)
    mc = simulate_future_spend(small_dataset, cutoff, horizon_days=30, n_sims=150, seed=3)
    assert (o["customer_id"].to_numpy() == mc["customer_id"].to_numpy()).all()
    assert o["alive"].sum() > 200
    rel = mc["mean_spend"].sum() / o["expected_spend"].sum() - 1
    assert abs(rel) < 0.02, rel
    rel_v = mc["mean_visits"].sum() / o["expected_visits"].sum() - 1
    assert abs(rel_v) < 0.02, rel_v
    # per customer, too
    assert np.corrcoef(o["expected_spend"], mc["mean_spend"])[0, 1] > 0.97
    # churned customers are expected to spend nothing
    assert (o.loc[~o["alive"], "expected_spend"] == 0).all()


def test_oracle_rejects_windows_outside_the_horizon(tiny_dataset: Dataset) -> None:
    with pytest.raises(RetailsimError, match="outside the simulated horizon"):
        expected_spend(tiny_dataset, "2030-01-01")
    with pytest.raises(RetailsimError, match="horizon_days"):
        expected_spend(tiny_dataset, "2024-03-31", horizon_days=0)


def test_oracle_only_includes_customers_known_at_cutoff(tiny_dataset: Dataset) -> None:
    o = expected_spend(tiny_dataset, "2024-03-31")
    con = tiny_dataset.connect()
    known = con.execute("SELECT count(*) FROM customers WHERE signup_date <= DATE '2024-03-31'").fetchone()[0]
    assert len(o) == known
