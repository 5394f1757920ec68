"""The generated data matches the schema and every relational invariant, checked with DuckDB queries."""

from __future__ import annotations

import re

import pyarrow.parquet as pq
import pytest

from retailsim import schema
from retailsim.storage.dataset import Dataset


def test_every_file_matches_the_schema(tiny_dataset: Dataset) -> None:
    for f in tiny_dataset.manifest["files"]:
        spec = schema.table(f["table"])
        got = pq.read_schema(tiny_dataset.path / f["path"])
        assert got.remove_metadata() == spec.arrow_schema(), f["path"]


def test_every_data_table_is_present_and_nonempty(tiny_dataset: Dataset) -> None:
    for spec in (*schema.DATA_TABLES, *schema.TRUTH_TABLES):
        assert tiny_dataset.rows(spec.name) > 0, spec.name


@pytest.mark.parametrize("spec", schema.DATA_TABLES, ids=lambda s: s.name)
def test_primary_keys_unique_and_not_null(tiny_dataset: Dataset, spec: schema.TableSpec) -> None:
    con = tiny_dataset.connect()
    keys = ", ".join(spec.primary_key)
    dupes = con.execute(
        f"SELECT count(*) FROM (SELECT {keys} FROM {spec.name} GROUP BY ALL HAVING count(*) > 1)"
    )
    assert dupes.fetchone()[0] == 0
    nulls = " OR ".join(f"{k} IS NULL" for k in spec.primary_key)
    assert con.execute(f"SELECT count(*) FROM {spec.name} WHERE {nulls}").fetchone()[0] == 0


FKS = [(spec, fk) for spec in schema.DATA_TABLES for fk in spec.foreign_keys]


@pytest.mark.parametrize("spec,fk", FKS, ids=[f"{s.name}.{fk.columns[0]}" for s, fk in FKS])
def test_every_foreign_key_resolves(
    tiny_dataset: Dataset, spec: schema.TableSpec, fk: schema.ForeignKey
) -> None:
    con = tiny_dataset.connect()
    (col,), (ref,) = fk.columns, fk.ref_columns
    orphans = con.execute(
        f"SELECT count(*) FROM {spec.name} c WHERE c.{col} IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {fk.ref_table} p WHERE p.{ref} = c.{col})"
    ).fetchone()[0]
    assert orphans == 0


@pytest.mark.parametrize("spec", schema.DATA_TABLES, ids=lambda s: s.name)
def test_values_respect_schema_constraints(tiny_dataset: Dataset, spec: schema.TableSpec) -> None:
    con = tiny_dataset.connect()
    for c in spec.columns:
        if not c.nullable:
            assert (
                con.execute(f"SELECT count(*) FROM {spec.name} WHERE {c.name} IS NULL").fetchone()[0] == 0
            ), c.name
        if c.allowed:
            allowed = ", ".join(f"'{a}'" for a in c.allowed)
            bad = con.execute(
                f"SELECT count(*) FROM {spec.name} WHERE {c.name} NOT IN ({allowed})"
            ).fetchone()[0]
            assert bad == 0, c.name
        if c.min is not None:
            assert (
                con.execute(f"SELECT count(*) FROM {spec.name} WHERE {c.name} < {c.min}").fetchone()[0] == 0
            )
        if c.max is not None:
            assert (
                con.execute(f"SELECT count(*) FROM {spec.name} WHERE {c.name} > {c.max}").fetchone()[0] == 0
            )
        if c.pattern:
            values = [
                r[0]
                for r in con.execute(
                    f"SELECT {c.name} FROM {spec.name} WHERE {c.name} IS NOT NULL"
                ).fetchall()
            ]
            rx = re.compile(c.pattern)
            assert all(rx.match(v) for v in values), c.name


def test_line_amounts_add_up_to_headers(tiny_dataset: Dataset) -> None:
    con = tiny_dataset.connect()
    bad = con.execute("""
        SELECT count(*) FROM transactions t JOIN (
          SELECT txn_id, count(*) AS n, sum(quantity) AS items, sum(round(quantity * unit_price, 2)) AS gross,
                 sum(discount_amount) AS disc, sum(line_amount) AS total
          FROM transaction_lines GROUP BY txn_id) l USING (txn_id)
        WHERE t.n_lines <> l.n OR t.n_items <> l.items OR abs(t.gross_amount - l.gross) > 0.005
           OR abs(t.discount_amount - l.disc) > 0.005 OR abs(t.total_amount - l.total) > 0.005
           OR abs(t.total_amount - (t.gross_amount - t.discount_amount)) > 0.005
    """).fetchone()[0]
    assert bad == 0
    lines_without_header = con.execute(
        "SELECT count(*) FROM transactions t WHERE NOT EXISTS (SELECT 1 FROM transaction_lines l WHERE l.txn_id = t.txn_id)"
    )
    assert lines_without_header.fetchone()[0] == 0
    line_math = con.execute("""
        SELECT count(*) FROM transaction_lines
        WHERE abs(round(quantity * unit_price, 2) - discount_amount - line_amount) > 0.005
           OR abs(discount_amount - round(quantity * unit_price * discount_pct, 2)) > 0.011
    """).fetchone()[0]
    assert line_math == 0


def test_timestamps_respect_horizon_signup_opening_and_launch(tiny_dataset: Dataset) -> None:
    con = tiny_dataset.connect()
    h = tiny_dataset.manifest["horizon"]
    assert (
        con.execute(
            f"SELECT count(*) FROM transactions WHERE txn_ts < DATE '{h['start']}' OR txn_ts >= DATE '{h['end']}'"
        ).fetchone()[0]
        == 0
    )
    assert (
        con.execute("""SELECT count(*) FROM transactions t JOIN customers c USING (customer_id)
                          WHERE t.txn_ts::DATE < c.signup_date""").fetchone()[0]
        == 0
    )
    assert (
        con.execute("""SELECT count(*) FROM transactions t JOIN stores s USING (store_id)
                          WHERE t.txn_ts::DATE < s.opened_date""").fetchone()[0]
        == 0
    )
    assert (
        con.execute("""SELECT count(*) FROM transaction_lines l JOIN transactions t USING (txn_id)
                          JOIN products p USING (product_id) WHERE t.txn_ts::DATE < p.launch_date""").fetchone()[
            0
        ]
        == 0
    )
    assert (
        con.execute("""SELECT count(*) FROM customers c JOIN stores s ON s.store_id = c.home_store_id
                          WHERE c.signup_date < s.opened_date""").fetchone()[0]
        == 0
    )
    assert (
        con.execute(f"""SELECT count(*) FROM customers
                           WHERE signup_date >= DATE '{h["end"]}'
                              OR date_diff('year', birth_date, signup_date) < 16""").fetchone()[0]
        == 0
    )


def test_promotions_apply_only_inside_their_window_product_and_store(tiny_dataset: Dataset) -> None:
    con = tiny_dataset.connect()
    bad = con.execute("""
        SELECT count(*) FROM transaction_lines l JOIN transactions t USING (txn_id)
        JOIN promotions p USING (promotion_id)
        WHERE t.txn_ts::DATE NOT BETWEEN p.start_date AND p.end_date OR p.product_id <> l.product_id
           OR (p.store_id IS NOT NULL AND p.store_id <> t.store_id) OR abs(l.discount_pct - p.discount_pct) > 1e-9
    """).fetchone()[0]
    assert bad == 0
    assert (
        con.execute(
            "SELECT count(*) FROM transaction_lines WHERE promotion_id IS NULL AND discount_pct <> 0"
        ).fetchone()[0]
        == 0
    )
    # a line of a product under an applicable promotion always gets it
    missed = con.execute("""
        SELECT count(*) FROM transaction_lines l JOIN transactions t USING (txn_id)
        JOIN promotions p ON p.product_id = l.product_id AND t.txn_ts::DATE BETWEEN p.start_date AND p.end_date
             AND (p.store_id IS NULL OR p.store_id = t.store_id)
        WHERE l.promotion_id IS NULL""").fetchone()[0]
    assert missed == 0


def test_anonymous_transactions_have_no_customer(tiny_dataset: Dataset) -> None:
    con = tiny_dataset.connect()
    share = con.execute("SELECT avg((customer_id IS NULL)::DOUBLE) FROM transactions").fetchone()[0]
    assert 0.03 < share < 0.2  # configured 0.1


def test_truth_covers_every_customer(tiny_dataset: Dataset) -> None:
    con = tiny_dataset.connect()
    assert (
        con.execute("""SELECT count(*) FROM customers c FULL JOIN customer_truth t USING (customer_id)
                          WHERE c.customer_id IS NULL OR t.customer_id IS NULL""").fetchone()[0]
        == 0
    )
    # nobody buys after their true churn time
    late = con.execute(f"""
        SELECT count(*) FROM transactions x JOIN customer_truth t USING (customer_id)
        WHERE epoch(x.txn_ts - TIMESTAMP '{tiny_dataset.manifest["horizon"]["start"]}') / 86400.0
              > t.churn_time + 1""").fetchone()[0]
    assert late == 0


def test_dataset_read_returns_arrow_with_schema_types(tiny_dataset: Dataset) -> None:
    t = tiny_dataset.read("stores", ["store_id", "format"])
    assert t.num_rows == tiny_dataset.rows("stores") and t.column_names == ["store_id", "format"]
    assert (
        tiny_dataset.read("products").schema.field("list_price").type
        == schema.PRODUCTS.column("list_price").type
    )
