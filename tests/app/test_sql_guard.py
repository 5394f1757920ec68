"""The SQL explorer's attack set: every attack is refused with a clear message, and no file outside the dataset
is read or written (checked on the file system, not only on the messages)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pytest

from retailsim.app.sql_guard import QueryRefused, QueryTimeout, SqlGuard
from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.storage.dataset import Dataset

SECRET = "retailsim-secret-7f3a9c"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A dataset folder, a secret file beside it (outside the dataset) and an empty working directory."""
    root = tmp_path_factory.mktemp("guard")
    ds = generate(build_config("tiny", sets=["seed=5"]), root / "dataset", workers=1)
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"secret\n{SECRET}\n")
    (outside / "secret.txt").write_text(SECRET)
    work = root / "work"
    work.mkdir()
    return {"root": root, "dataset": ds.path, "outside": outside, "work": work}


@pytest.fixture(scope="module")
def guard(sandbox: dict[str, Path]) -> SqlGuard:
    g = SqlGuard(sandbox["dataset"])
    yield g
    g.close()


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def attacks(s: dict[str, Path]) -> list[tuple[str, str, str]]:
    """(id, sql, a phrase the refusal must contain)."""
    out, secret, secret_txt = s["outside"], s["outside"] / "secret.csv", s["outside"] / "secret.txt"
    ds = s["dataset"]
    return [
        ("copy-to", f"COPY (SELECT * FROM customers) TO '{out}/pwned.csv'", "COPY"),
        ("copy-to-relative", "COPY customers TO 'pwned.parquet' (FORMAT parquet)", "COPY"),
        ("copy-to-inside", f"COPY customers TO '{ds}/pwned.csv'", "COPY"),
        ("copy-from", f"COPY customers FROM '{secret}'", "COPY"),
        ("export", f"EXPORT DATABASE '{out}/dump'", "EXPORT"),
        ("attach", f"ATTACH '{out}/new.duckdb' AS x", "ATTACH"),
        ("attach-memory", "ATTACH ':memory:' AS m", "ATTACH"),
        ("detach", "DETACH memory", "DETACH"),
        ("install", "INSTALL httpfs", "INSTALL/LOAD"),
        ("load", "LOAD httpfs", "INSTALL/LOAD"),
        ("force-install", "FORCE INSTALL spatial", "INSTALL/LOAD"),
        ("read-csv-outside", f"SELECT * FROM read_csv('{secret}')", "outside the dataset"),
        ("read-csv-auto", f"SELECT * FROM read_csv_auto(['{secret}'])", "outside the dataset"),
        ("read-text-outside", f"SELECT * FROM read_text('{secret_txt}')", "outside the dataset"),
        ("read-text-etc", "SELECT content FROM read_text('/etc/passwd')", "outside the dataset"),
        ("read-blob", f"SELECT * FROM read_blob('{out}/*')", "outside the dataset"),
        ("read-parquet-outside", f"SELECT * FROM read_parquet('{out}/*.parquet')", "outside the dataset"),
        ("read-json", f"SELECT * FROM read_json('{secret_txt}')", "outside the dataset"),
        ("glob-outside", f"SELECT * FROM glob('{out}/*')", "outside the dataset"),
        ("glob-root", "SELECT * FROM glob('/*')", "outside the dataset"),
        ("dotdot", f"SELECT * FROM read_text('{ds}/../outside/secret.txt')", "outside the dataset"),
        ("relative", "SELECT * FROM read_text('secret.txt')", "relative path"),
        ("replacement-scan", f"SELECT * FROM '{secret}'", "outside the dataset"),
        ("computed-path", f"SELECT * FROM read_text('{out}' || '/secret.txt')", "literal string"),
        ("remote", "SELECT * FROM read_parquet('https://example.com/x.parquet')", "remote"),
        (
            "in-subquery",
            f"SELECT (SELECT count(*) FROM read_text('{secret_txt}')) AS n",
            "outside the dataset",
        ),
        ("in-cte", f"WITH s AS (SELECT * FROM read_csv('{secret}')) SELECT * FROM s", "outside the dataset"),
        ("dynamic-query", f"SELECT * FROM query('SELECT * FROM read_text(''{secret_txt}'')')", "query()"),
        ("pragma", "PRAGMA enable_profiling", "PRAGMA"),
        ("pragma-version", "PRAGMA version", "PRAGMA"),
        ("set", "SET enable_external_access = true", "SET/RESET"),
        ("set-lock", "SET lock_configuration = false", "SET/RESET"),
        ("reset", "RESET memory_limit", "SET/RESET"),
        ("use", "USE memory", "SET/RESET"),
        ("create-table", "CREATE TABLE t AS SELECT 1", "CREATE"),
        ("create-view", "CREATE VIEW v AS SELECT 1", "CREATE"),
        ("create-macro", "CREATE MACRO m(x) AS x", "CREATE"),
        ("create-secret", "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", "CREATE"),
        ("insert", "INSERT INTO customers SELECT * FROM customers LIMIT 1", "INSERT"),
        ("update", "UPDATE customers SET email = 'x'", "UPDATE"),
        ("delete", "DELETE FROM customers", "DELETE"),
        ("drop", "DROP VIEW customers", "DROP"),
        ("alter", "ALTER VIEW customers RENAME TO c2", "ALTER"),
        ("call", "CALL pragma_version()", "CALL"),
        ("checkpoint", "CHECKPOINT", "CALL"),
        ("two-statements", "SELECT 1; SELECT 2", "one statement"),
        ("select-then-copy", f"SELECT 1; COPY (SELECT 1) TO '{out}/x.csv'", "one statement"),
        ("select-then-drop", "SELECT * FROM customers; DROP VIEW customers", "one statement"),
        ("transaction", "BEGIN TRANSACTION", "BEGIN/COMMIT"),
        ("empty", "  -- nothing\n", "empty"),
        ("garbage", "SELEKT * FROM customers", "does not parse"),
    ]


def test_attack_set_is_refused_and_touches_no_file(
    guard: SqlGuard, sandbox: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sandbox["work"])
    before_ds, before_out = _snapshot(sandbox["dataset"]), _snapshot(sandbox["outside"])
    for aid, sql, phrase in attacks(sandbox):
        with pytest.raises(QueryRefused) as err:
            res = guard.run(sql, row_cap=100, time_limit_s=5)
            assert SECRET not in str(res.table.to_pylist()), aid  # pragma: no cover - only on failure
        assert phrase.lower() in str(err.value).lower(), f"{aid}: {err.value}"
        assert SECRET not in str(err.value), aid
    assert _snapshot(sandbox["dataset"]) == before_ds, "the dataset was modified"
    assert _snapshot(sandbox["outside"]) == before_out, "a file outside the dataset was written"
    assert list(sandbox["work"].iterdir()) == [], "a file was written in the working directory"
    assert sorted(p.name for p in sandbox["root"].iterdir()) == ["dataset", "outside", "work"]
    # the connection still works and still holds every view
    assert guard.run("SELECT count(*) AS n FROM customers").table.column("n")[0].as_py() == 400


def test_locked_connection_refuses_even_without_the_parser_layer(
    guard: SqlGuard, sandbox: dict[str, Path]
) -> None:
    """Layer 2 on its own: the explorer's connection cannot read outside files or unlock itself."""
    cur = guard._con.cursor()
    try:
        with pytest.raises(duckdb.PermissionException):
            cur.execute(f"SELECT * FROM read_text('{sandbox['outside'] / 'secret.txt'}')").fetchall()
        with pytest.raises(duckdb.PermissionException):
            cur.execute(f"COPY (SELECT 1) TO '{sandbox['outside'] / 'x.csv'}'")
        with pytest.raises(duckdb.Error, match="locked"):
            cur.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="locked"):
            cur.execute("SET allowed_directories = ['/']")
        with pytest.raises(duckdb.Error):
            cur.execute(f"ATTACH '{sandbox['outside'] / 'x.duckdb'}' AS x")
    finally:
        cur.close()
    assert sorted(p.name for p in sandbox["outside"].iterdir()) == ["secret.csv", "secret.txt"]


def test_allowed_queries(guard: SqlGuard, sandbox: dict[str, Path]) -> None:
    ds = sandbox["dataset"]
    store_file = next((ds / "stores").glob("*.parquet"))
    for sql in (
        "SELECT count(*) FROM transactions",
        "select * from customers limit 3;",
        "WITH m AS (SELECT date_trunc('month', txn_ts) AS m, sum(total_amount) AS r FROM transactions GROUP BY 1) "
        "SELECT * FROM m ORDER BY m",
        "FROM stores SELECT store_id, format",
        "DESCRIBE transactions",
        "SHOW TABLES",
        "SUMMARIZE stores",
        "VALUES (1, 'a'), (2, 'b')",
        "PIVOT stores ON format IN ('online', 'supermarket') USING count(*)",
        f"SELECT count(*) FROM read_parquet('{store_file}')",
        f"SELECT count(*) FROM '{store_file}'",
        "SELECT * FROM range(5)",
    ):
        res = guard.run(sql, row_cap=50, time_limit_s=10)
        assert res.table.num_rows >= 1, sql


def test_row_cap_truncates_without_materialising(guard: SqlGuard) -> None:
    res = guard.run("SELECT * FROM range(1000000000000)", row_cap=100, time_limit_s=10)
    assert res.table.num_rows == 100 and res.truncated
    res = guard.run("SELECT * FROM range(7)", row_cap=100)
    assert res.table.num_rows == 7 and not res.truncated


def test_time_limit_interrupts(guard: SqlGuard) -> None:
    slow = "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b"
    with pytest.raises(QueryTimeout, match="time limit"):
        guard.run(slow, time_limit_s=0.5)
    assert guard.run("SELECT 42 AS x").table.column("x")[0].as_py() == 42


def test_errors_are_messages(guard: SqlGuard) -> None:
    with pytest.raises(QueryRefused, match="does not exist"):
        guard.run("SELECT * FROM no_such_table")
    with pytest.raises(QueryRefused, match="Could not convert"):
        guard.run("SELECT 'x'::INTEGER")


@pytest.mark.parametrize("fmt", ["csv", "duckdb"])
def test_other_formats_are_readable_and_locked(tmp_path: Path, fmt: str) -> None:
    ds: Dataset = generate(build_config("tiny", sets=["seed=5"]), tmp_path / "ds", fmt=fmt, workers=1)
    (tmp_path / "secret.txt").write_text(SECRET)
    with SqlGuard(ds.path) as g:
        n = g.run("SELECT count(*) AS n FROM transaction_lines").table.column("n")[0].as_py()
        assert n == ds.rows("transaction_lines")
        with pytest.raises(QueryRefused, match="outside the dataset"):
            g.run(f"SELECT * FROM read_text('{tmp_path / 'secret.txt'}')")
        with pytest.raises(QueryRefused, match="ATTACH"):
            g.run(f"ATTACH '{tmp_path / 'other.duckdb'}'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "secret.txt"]


def test_symlink_out_of_the_dataset_is_not_followed(tmp_path: Path) -> None:
    ds = generate(build_config("tiny", sets=["seed=5"]), tmp_path / "ds", workers=1)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET)
    (ds.path / "escape").symlink_to(tmp_path / "outside")
    with SqlGuard(ds.path) as g:
        assert g.run("SELECT count(*) FROM stores").table.num_rows == 1
        with pytest.raises(QueryRefused, match="outside the dataset"):
            g.run(f"SELECT * FROM read_text('{ds.path / 'escape' / 'secret.txt'}')")
        cur = g._con.cursor()
        with pytest.raises(duckdb.PermissionException):
            cur.execute(f"SELECT * FROM read_text('{ds.path / 'escape' / 'secret.txt'}')").fetchall()
        cur.close()
