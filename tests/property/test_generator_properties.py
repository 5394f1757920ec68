"""Invariants that hold for any seed and shard size (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retailsim.config import build_config
from retailsim.generate.runner import generate


@given(
    seed=st.integers(0, 2**32 - 1),
    shard=st.sampled_from([40, 75, 150]),
    locale=st.sampled_from(["en_US", "en_GB", "de_DE", "fr_FR"]),
)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_seed_gives_relationally_valid_data(seed: int, shard: int, locale: str) -> None:
    cfg = build_config(
        "tiny",
        sets=[
            f"seed={seed}",
            f"shard_customers={shard}",
            "customers.count=150",
            "horizon.months=3",
            f"customers.locale={locale}",
            "stores.count=4",
            "products.count=150",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        ds = generate(cfg, Path(tmp) / "ds")
        con = ds.connect()
        assert ds.rows("customers") == 150
        checks = {
            "orphan lines": "SELECT count(*) FROM transaction_lines l ANTI JOIN transactions t USING (txn_id)",
            "orphan customers": "SELECT count(*) FROM transactions t WHERE customer_id IS NOT NULL AND customer_id NOT IN (SELECT customer_id FROM customers)",
            "orphan products": "SELECT count(*) FROM transaction_lines WHERE product_id NOT IN (SELECT product_id FROM products)",
            "totals": """SELECT count(*) FROM transactions t JOIN (SELECT txn_id, sum(line_amount) s FROM transaction_lines
                         GROUP BY 1) USING (txn_id) WHERE abs(t.total_amount - s) > 0.005""",
            "before signup": """SELECT count(*) FROM transactions t JOIN customers c USING (customer_id)
                                WHERE t.txn_ts::DATE < c.signup_date""",
            "before opening": """SELECT count(*) FROM transactions t JOIN stores s USING (store_id)
                                 WHERE t.txn_ts::DATE < s.opened_date""",
            "duplicate txn ids": "SELECT count(*) - count(DISTINCT txn_id) FROM transactions",
        }
        for name, sql in checks.items():
            assert con.execute(sql).fetchone()[0] == 0, name
        con.close()
