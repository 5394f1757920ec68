"""`retailsim load --postgres`: a round trip through a real, throwaway PostgreSQL server.

The server is started with initdb + pg_ctl in a temporary folder on a free port (as the `postgres` system user
when the tests run as root). Without PostgreSQL's server programs the module is skipped with the reason, except
in CI (CI=true), where that is a failure: `make test` installs them (scripts/ensure-postgres.sh).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from retailsim import schema
from retailsim.cli import app
from retailsim.generate.runner import generate
from retailsim.scale import postgres as pgload
from retailsim.scale.pgserver import TemporaryPostgres, find_pg_bindir, free_port
from retailsim.scale.postgres import PostgresLoadError, load_postgres
from retailsim.storage.dataset import Dataset

psycopg = pytest.importorskip("psycopg")
runner = CliRunner()


@pytest.fixture(scope="module")
def pg() -> Iterator[TemporaryPostgres]:
    if find_pg_bindir() is None:
        reason = (
            "PostgreSQL server programs (initdb, pg_ctl) not found; run scripts/ensure-postgres.sh as root"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: `make test` must install them)")
        pytest.skip(reason)
    with TemporaryPostgres() as server:
        yield server


def _fetch(pg: TemporaryPostgres, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.url) as conn:
        return conn.execute(sql, params).fetchall()


def _snapshot(pg: TemporaryPostgres) -> list[tuple[Any, ...]]:
    """Every schema, table and its row count: what "the database as it was" means here."""
    tables = _fetch(
        pg,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )
    out: list[tuple[Any, ...]] = [(r[0],) for r in _fetch(pg, "SELECT nspname FROM pg_namespace ORDER BY 1")]
    for s, t in tables:
        out.append((s, t, _fetch(pg, f'SELECT count(*) FROM "{s}"."{t}"')[0][0]))
    return out


def _pk_order(spec: schema.TableSpec) -> str:
    return ", ".join(f'"{c}"' for c in spec.primary_key)


def _normalise(spec: schema.TableSpec, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """float32 lists come back from PostgreSQL's `real[]` as the shortest decimal: compare as float32."""
    lists = [i for i, c in enumerate(spec.columns) if pa.types.is_list(c.type)]
    if not lists:
        return rows
    out = []
    for r in rows:
        r = list(r)
        for i in lists:
            r[i] = None if r[i] is None else np.asarray(r[i], np.float32).tolist()
        out.append(tuple(r))
    return out


def test_round_trip_counts_keys_and_rows(pg: TemporaryPostgres, tiny_dataset: Dataset) -> None:
    report = load_postgres(tiny_dataset, pg.url, schema_name="rt", truth=True)
    names = [s.name for s in pgload.plan_tables(tiny_dataset, None, truth=True)]
    assert list(report.rows) == names and "customer_truth" in names
    duck = tiny_dataset.connect()
    for name in names:
        spec = schema.table(name)
        # row counts
        assert report.rows[name] == tiny_dataset.rows(name)
        assert _fetch(pg, f'SELECT count(*) FROM rt."{name}"')[0][0] == tiny_dataset.rows(name), name
        # column types from the schema
        types = _fetch(
            pg,
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attname = c.column_name AND a.attrelid = ('rt.' || quote_ident(%s))::regclass "
            "WHERE table_schema = 'rt' AND table_name = %s ORDER BY ordinal_position",
            (name, name),
        )
        assert types == [(c.name, pgload.pg_type(c.type)) for c in spec.columns], name
        # a sample of rows (every 7th by primary key) is equal, value for value
        cols = ", ".join(f'"{c}"' for c in spec.column_names)
        sql = f'SELECT {cols} FROM "{name}" ORDER BY {_pk_order(spec)}'
        expected = duck.execute(sql).fetchall()[::7]
        got = _fetch(pg, sql.replace(f'FROM "{name}"', f'FROM rt."{name}"'))[::7]
        assert _normalise(spec, got) == _normalise(spec, expected), name
    # primary and foreign keys exist and are validated; every foreign key holds (checked independently)
    cons = _fetch(
        pg,
        "SELECT conrelid::regclass::text, contype, convalidated FROM pg_constraint "
        "WHERE connamespace = 'rt'::regnamespace AND contype IN ('p', 'f')",
    )
    n_fk = sum(1 for n in names for fk in schema.table(n).foreign_keys if fk.ref_table in names)
    assert sum(1 for c in cons if c[1] == "p") == len(names)
    assert sum(1 for c in cons if c[1] == "f") == n_fk and all(c[2] for c in cons)
    for name in names:
        for fk in schema.table(name).foreign_keys:
            on = " AND ".join(f'r."{rc}" = t."{c}"' for c, rc in zip(fk.columns, fk.ref_columns, strict=True))
            notnull = " AND ".join(f't."{c}" IS NOT NULL' for c in fk.columns)
            orphans = _fetch(
                pg,
                f'SELECT count(*) FROM rt."{name}" t WHERE {notnull} AND NOT EXISTS '
                f'(SELECT 1 FROM rt."{fk.ref_table}" r WHERE {on})',
            )[0][0]
            assert orphans == 0, (name, fk)
    # secondary indexes built after the load, comments from the schema, no staging schema left
    idx = {r[0] for r in _fetch(pg, "SELECT indexname FROM pg_indexes WHERE schemaname = 'rt'")}
    assert {"transactions_customer_id_idx", "transaction_lines_product_id_idx", "products_sku_key"} <= idx
    assert _fetch(pg, "SELECT obj_description('rt.stores'::regclass)")[0][0] == schema.STORES.description
    assert not _fetch(pg, "SELECT 1 FROM pg_namespace WHERE nspname LIKE 'retailsim_load_%'")


@pytest.mark.parametrize("fmt", ["csv", "duckdb"])
def test_every_dataset_format_loads_the_same_rows(
    pg: TemporaryPostgres, tmp_path: Path, tiny_config, tiny_dataset: Dataset, fmt: str
) -> None:
    ref = f"ref_{fmt}"
    load_postgres(tiny_dataset, pg.url, schema_name=ref, tables=["transactions", "transaction_lines"])
    ds = generate(tiny_config, tmp_path / fmt, fmt=fmt)  # type: ignore[arg-type]
    load_postgres(ds, pg.url, schema_name=fmt, tables=["transactions", "transaction_lines"])
    for t in ("transactions", "transaction_lines"):
        a, b = f'{fmt}."{t}"', f'{ref}."{t}"'
        diff = _fetch(
            pg,
            f"SELECT count(*) FROM ((TABLE {a} EXCEPT ALL TABLE {b}) UNION ALL (TABLE {b} EXCEPT ALL TABLE {a})) d",
        )
        assert diff == [(0,)], (fmt, t)
        assert _fetch(pg, f"SELECT count(*) FROM {a}") == [(tiny_dataset.rows(t),)]


def test_existing_tables_are_refused_and_replace_swaps_them(
    pg: TemporaryPostgres, tiny_dataset: Dataset
) -> None:
    load_postgres(tiny_dataset, pg.url, schema_name="ex", tables=["stores", "products"])
    with psycopg.connect(pg.url) as conn:
        conn.execute("DELETE FROM ex.products WHERE product_id > 10")  # a marker: the old table has 10 rows
    before = _snapshot(pg)
    with pytest.raises(
        PostgresLoadError, match=r"already exist in schema 'ex': stores, products.*--if-exists"
    ):
        load_postgres(tiny_dataset, pg.url, schema_name="ex")
    assert _snapshot(pg) == before
    res = runner.invoke(app, ["load", str(tiny_dataset.path), "--postgres", pg.url, "--schema", "ex"])
    assert res.exit_code == 2 and "already exist" in res.output and "Traceback" not in res.output
    assert _snapshot(pg) == before
    report = load_postgres(tiny_dataset, pg.url, schema_name="ex", if_exists="replace")
    assert report.replaced == ["stores", "products"]
    assert _fetch(pg, "SELECT count(*) FROM ex.products")[0][0] == tiny_dataset.rows("products")
    assert not _fetch(pg, "SELECT 1 FROM pg_namespace WHERE nspname LIKE 'retailsim_load_%'")


def test_bad_url_wrong_password_and_unreachable_server(pg: TemporaryPostgres, tiny_dataset: Dataset) -> None:
    before = _snapshot(pg)
    cases = {
        "mysql://root@localhost/db": "not a PostgreSQL URL",
        "postgresql://postgres:pw@127.0.0.1:notaport/db": "bad PostgreSQL URL",
        pg.url_for(password="wrong-secret"): "authentication failed",
        pg.url_for(dbname="nodb"): "does not exist",
        f"postgresql://postgres:pw@127.0.0.1:{free_port()}/postgres": "cannot connect",
    }
    for url, message in cases.items():
        res = runner.invoke(app, ["load", str(tiny_dataset.path), "--postgres", url, "-q"])
        assert res.exit_code == 2, (url, res.output)
        assert message in res.output and "Traceback" not in res.output, (url, res.output)
        assert "wrong-secret" not in res.output  # passwords are redacted
    assert _snapshot(pg) == before


def _orphan_dataset(src: Dataset, dst: Path) -> Dataset:
    """A copy of ``src`` whose first transaction points at a store that does not exist."""
    shutil.copytree(src.path, dst)
    part = next(f for f in sorted(dst.glob("transactions/*/*.parquet")))
    t = pq.read_table(part)
    stores = t.column("store_id").to_pylist()
    stores[0] = 9999
    idx = t.schema.get_field_index("store_id")
    pq.write_table(t.set_column(idx, t.schema.field(idx), pa.array(stores, pa.int32())), part)
    return Dataset(dst)


def test_a_failing_load_rolls_back_and_leaves_the_database_as_it_was(
    pg: TemporaryPostgres, tmp_path: Path, tiny_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_postgres(tiny_dataset, pg.url, schema_name="keep", tables=["stores"])
    before = _snapshot(pg)
    bad = _orphan_dataset(tiny_dataset, tmp_path / "orphan")
    with pytest.raises(PostgresLoadError, match=r"foreign key.*left as it was"):
        load_postgres(bad, pg.url, schema_name="keep", if_exists="replace")
    assert _snapshot(pg) == before
    # an error while streaming rows (the connection to the data breaks): same
    real = pgload.csv_chunks

    def broken(reader: pa.RecordBatchReader, prefetch: int = 3) -> Iterator[tuple[bytes, int]]:
        for i, item in enumerate(real(reader, prefetch)):
            if i == 1:
                raise OSError("disk went away")
            yield item

    monkeypatch.setattr(pgload, "csv_chunks", broken)
    with pytest.raises(OSError, match="disk went away"):
        load_postgres(
            tiny_dataset, pg.url, schema_name="keep", if_exists="replace", batch_rows=1000, copy_format="csv"
        )
    monkeypatch.undo()
    assert _snapshot(pg) == before
    # without constraints a dataset with defects still loads (for data-quality work in SQL)
    report = load_postgres(bad, pg.url, schema_name="dirty", constraints=False)
    assert report.rows["transactions"] == bad.rows("transactions")


def test_binary_and_csv_copy_give_the_same_rows(pg: TemporaryPostgres, tiny_dataset: Dataset) -> None:
    assert pgload.binary_copy_supported(schema.TRANSACTION_LINES)
    assert not pgload.binary_copy_supported(schema.TRANSACTIONS)
    for fmt in ("csv", "binary"):
        load_postgres(
            tiny_dataset, pg.url, schema_name=f"f_{fmt}", tables=["transaction_lines"], copy_format=fmt
        )
    diff = _fetch(
        pg,
        "SELECT count(*) FROM ((TABLE f_csv.transaction_lines EXCEPT ALL TABLE f_binary.transaction_lines) "
        "UNION ALL (TABLE f_binary.transaction_lines EXCEPT ALL TABLE f_csv.transaction_lines)) d",
    )
    assert diff == [(0,)]
    with pytest.raises(PostgresLoadError):  # text columns have no binary encoding here
        load_postgres(tiny_dataset, pg.url, schema_name="f_bad", tables=["stores"], copy_format="binary")


def test_binary_encoding_of_every_fixed_width_type_and_null_pattern(pg: TemporaryPostgres) -> None:
    spec = schema.TableSpec(
        name="wire",
        description="Every fixed-width type, nullable, in every null pattern.",
        primary_key=("k",),
        columns=(
            schema.Column("k", pa.int64(), "key"),
            schema.Column("i", pa.int32(), "", nullable=True),
            schema.Column("f", pa.float64(), "", nullable=True),
            schema.Column("r", pa.float32(), "", nullable=True),
            schema.Column("b", pa.bool_(), "", nullable=True),
            schema.Column("d", pa.date32(), "", nullable=True),
            schema.Column("t", pa.timestamp("ms"), "", nullable=True),
        ),
    )
    import datetime as dt

    n = 64
    rng = np.random.default_rng(3)
    cols: dict[str, list[Any]] = {
        "k": list(range(n)),
        "i": rng.integers(-(2**31), 2**31 - 1, n).tolist(),
        "f": (rng.standard_normal(n) * 1e6).tolist(),
        "r": np.float32(rng.standard_normal(n)).tolist(),
        "b": (rng.random(n) < 0.5).tolist(),
        "d": [dt.date(1969, 12, 31) + dt.timedelta(days=int(x)) for x in rng.integers(0, 40_000, n)],
        "t": [
            dt.datetime(1999, 12, 31, 23, 59, 59, 999000) + dt.timedelta(seconds=int(x))
            for x in rng.integers(0, 10**9, n)
        ],
    }
    for c in list(cols)[1:]:  # nulls in random patterns
        for j in np.flatnonzero(rng.random(n) < 0.3):
            cols[c][j] = None
    batch = pa.RecordBatch.from_pydict(cols, schema=spec.arrow_schema())
    with psycopg.connect(pg.url) as conn, conn.cursor() as cur:
        cur.execute(pgload.create_table_sql(spec, "public"))
        with cur.copy("COPY public.wire FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgload.BINARY_SIGNATURE + pgload.encode_binary(batch, spec) + pgload.BINARY_TRAILER)
        got = cur.execute("SELECT k, i, f, r, b, d, t FROM public.wire ORDER BY k").fetchall()
        conn.rollback()
    expected = list(zip(*cols.values(), strict=True))
    assert [g[:3] + g[4:] for g in got] == [e[:3] + e[4:] for e in expected]
    assert [None if g[3] is None else np.float32(g[3]) for g in got] == [
        None if e[3] is None else np.float32(e[3]) for e in expected
    ]


def test_cli_load_prints_a_summary(pg: TemporaryPostgres, tiny_dataset: Dataset) -> None:
    res = runner.invoke(
        app, ["load", str(tiny_dataset.path), "--schema", "cli"], env={"RETAILSIM_POSTGRES_URL": pg.url}
    )
    assert res.exit_code == 0, res.output
    assert "transaction_lines" in res.output and "rows in" in res.output and pg.password not in res.output
    assert _fetch(pg, "SELECT count(*) FROM cli.transaction_lines")[0][0] == tiny_dataset.rows(
        "transaction_lines"
    )


# -- without a server -------------------------------------------------------------------------------------
def test_ddl_comes_from_the_schema() -> None:
    ddl = pgload.postgres_ddl(list(schema.TABLES.values()), "s")
    for spec in schema.TABLES.values():
        assert f'CREATE TABLE "s"."{spec.name}"' in ddl
        for c in spec.columns:
            assert f'"{c.name}" {pgload.pg_type(c.type)}' in ddl
    assert 'FOREIGN KEY ("txn_id") REFERENCES "s"."transactions" ("txn_id")' in ddl
    assert ddl.index('ADD CONSTRAINT "transactions_pkey"') < ddl.index("transaction_lines_txn_id_fkey")
    assert pgload.pg_type(pa.list_(pa.float32())) == "real[]"


def test_print_ddl_needs_no_server(tiny_dataset: Dataset) -> None:
    res = runner.invoke(app, ["load", str(tiny_dataset.path), "--print-ddl", "--schema", "x"])
    assert res.exit_code == 0 and 'CREATE TABLE "x"."transaction_lines"' in res.output
    res = runner.invoke(app, ["load", str(tiny_dataset.path)])
    assert res.exit_code == 2 and "--postgres" in res.output


def test_password_is_redacted() -> None:
    assert pgload.redact("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert "s3cret" not in pgload.redact("host=h password=s3cret dbname=db")


def test_tables_are_ordered_by_their_foreign_keys() -> None:
    order = [s.name for s in pgload.dependency_order(list(reversed(schema.DATA_TABLES)))]
    for spec in schema.DATA_TABLES:
        for fk in spec.foreign_keys:
            assert order.index(fk.ref_table) < order.index(spec.name)


def test_missing_table_is_a_clear_error(tiny_dataset: Dataset) -> None:
    with pytest.raises(PostgresLoadError, match="not in this dataset: nope"):
        pgload.plan_tables(tiny_dataset, ["nope"], truth=False)
