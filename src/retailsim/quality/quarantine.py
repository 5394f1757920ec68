"""Split a dataset into a clean dataset and quarantined rows, losing none.

A row is *rejected* when it fails an error rule (or a warning rule with ``quarantine_warnings``). Rows that
depend on a rejected row *follow* it, so the clean dataset is referentially whole: children of a rejected
parent by any foreign key (a customer's transactions, a transaction's lines, a product's lines), and — since
a transaction and its lines are one basket — the header and every sibling of a rejected line.

The clean dataset keeps the source layout (same files, minus rejected rows; untouched files are copied) and
format (Parquet or CSV; a DuckDB source becomes Parquet), with a new manifest. Every rejected row goes to
``quarantine/<table>.parquet`` with all its columns, ``_source_file``, ``_source_row`` (1-based),
``_rule_ids``, ``_reason`` and ``_followed`` (TRUE when it was rejected only because of another row).
Accounting is checked: clean + quarantined = input for every table.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from retailsim import schema
from retailsim.errors import DatasetError
from retailsim.quality.report import QuarantineResult, QuarantineTable
from retailsim.quality.rules import Rule, lit, q
from retailsim.storage.atomic import staged_folder
from retailsim.storage.files import FileFormat, FileRecord, sha256_file, write_table
from retailsim.storage.manifest import build_manifest, write_manifest

if TYPE_CHECKING:
    from retailsim.quality.engine import Session

#: Child table → (column, parent table) whose rows form one unit with it: a rejected child rejects the parent.
UNITS: dict[str, tuple[str, str]] = {"transaction_lines": ("txn_id", "transactions")}
_STANDARD_KEYS = {"manifest_version", "retailsim_version", "kind", "format", "tables", "files"}


def dependency_order(tables: Sequence[str]) -> list[str]:
    """Tables with every parent (by foreign key) before its children."""
    present = set(tables)
    done: list[str] = []
    pending = [t for t in tables]
    while pending:
        for t in pending:
            parents = {fk.ref_table for fk in schema.table(t).foreign_keys} & present
            if parents <= set(done) | {t}:
                done.append(t)
                pending.remove(t)
                break
        else:  # a cycle: keep the given order
            done += pending
            break
    return done


def _nullable_schema(spec: schema.TableSpec, table: pa.Table) -> pa.Schema:
    return pa.schema(
        [
            pa.field(c.name, c.type, nullable=c.nullable or table.column(c.name).null_count > 0)
            for c in spec.columns
        ]
    )


def write_quarantine(
    session: Session, active: dict[str, list[Rule]], out: Path, *, overwrite: bool
) -> QuarantineResult:
    """Compute rejected rows (own and followed) and write the clean dataset plus the quarantine files."""
    con = session.con
    cfg = session.config
    src = session.sources
    tables = dependency_order(list(src.by_table))

    def keep(r: Rule) -> bool:
        return r.severity == "error" or cfg.quarantine_warnings

    def key_cols(t: str) -> list[str]:
        return list(schema.table(t).primary_key)

    # ---- own rejections, then followers along foreign keys, parents first
    for t in tables:
        spec = schema.table(t)
        keys = ", ".join(q(k) for k in spec.primary_key)
        parts = []
        if t in active and f"__fail_{t}" in session.created:
            ids, reason = session.reason_sql(active[t], keep)
            parts.append(
                f"SELECT __file, __row, {keys}, {ids} AS rule_ids, {reason} AS reason, TRUE AS own "
                f"FROM __fail_{t} WHERE len({ids}) > 0"
            )
        for fk in spec.foreign_keys:
            if fk.ref_table not in src.by_table or len(fk.columns) != 1:
                continue
            col = fk.columns[0]
            parts.append(
                f"SELECT r.__file, r.__row, {', '.join('r.' + q(k) for k in spec.primary_key)}, "
                f"[{lit('follows:' + fk.ref_table)}] AS rule_ids, "
                f"{lit('follows ' + fk.ref_table + ' ')} || CAST(r.{q(col)} AS VARCHAR) || ' (quarantined)' AS reason, "
                f"FALSE AS own FROM {src.by_table[t].relation} r "
                f"WHERE r.{q(col)} IN (SELECT __k FROM __rejkeys_{fk.ref_table})"
            )
        _build_rejections(session, t, parts)
    # ---- a basket is whole or quarantined: a rejected line rejects its header and so its siblings
    for child, (col, parent) in UNITS.items():
        if child not in src.by_table or parent not in src.by_table:
            continue
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __up AS SELECT DISTINCT {q(col)} AS __k FROM __rej_{child} "
            f"WHERE {q(col)} IS NOT NULL AND {q(col)} NOT IN (SELECT __k FROM __rejkeys_{parent})"
        )
        if not con.execute("SELECT count(*) FROM __up").fetchall()[0][0]:
            continue
        pkeys = ", ".join(f"r.{q(k)}" for k in key_cols(parent))
        ckeys = ", ".join(f"r.{q(k)}" for k in key_cols(child))
        con.execute(
            f"INSERT INTO __rej_{parent} SELECT r.__file, r.__row, {pkeys}, [{lit('basket:' + child)}], "
            f"{lit('a line of this transaction was quarantined')}, FALSE FROM {src.by_table[parent].relation} r "
            f"WHERE r.{q(schema.table(parent).primary_key[0])} IN (SELECT __k FROM __up)"
        )
        con.execute(
            f"INSERT INTO __rej_{child} SELECT r.__file, r.__row, {ckeys}, [{lit('follows:' + parent)}], "
            f"{lit('follows ' + parent + ' ')} || CAST(r.{q(col)} AS VARCHAR) || ' (its basket was quarantined)', "
            f"FALSE FROM {src.by_table[child].relation} r ANTI JOIN __rej_{child} j "
            f"ON j.__file = r.__file AND j.__row = r.__row WHERE r.{q(col)} IN (SELECT __k FROM __up)"
        )
    # ---- write
    ds = session.ds
    out_fmt: FileFormat = "csv" if ds.format == "csv" else "parquet"
    counts: dict[str, QuarantineTable] = {}
    with staged_folder(out, overwrite=overwrite) as tmp:
        records: list[FileRecord] = []
        qfiles: dict[str, Any] = {}
        for t in tables:
            written = _write_clean(session, t, tmp, out_fmt, records)
            n_in = src.by_table[t].rows
            n_rej, n_own = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE own) FROM __rej_{t}"
            ).fetchall()[0]
            counts[t] = QuarantineTable(n_in, written, int(n_rej), int(n_own), int(n_rej - n_own))
            if written + n_rej != n_in:
                raise DatasetError(
                    f"quarantine accounting failed for {t}: {written} clean + {n_rej} quarantined ≠ {n_in}"
                )
            if n_rej:
                qfiles[t] = _write_quarantined(session, t, tmp)
        data = {s.name for s in schema.DATA_TABLES}
        for f in ds.manifest["files"]:  # truth and derived tables travel unchanged
            if f["table"] not in data:
                target = tmp / f["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ds.path / f["path"], target)
                records.append(FileRecord(f["path"], f["table"], f["rows"], f["bytes"], f["sha256"]))
        extra = {k: v for k, v in ds.manifest.items() if k not in _STANDARD_KEYS and not k.startswith("_")}
        extra["quality"] = {
            "source": str(ds.path),
            "rows": {
                t: {"input": c.input, "clean": c.clean, "quarantined": c.quarantined}
                for t, c in counts.items()
            },
            "quarantine": qfiles,
        }
        write_manifest(tmp, build_manifest(records, fmt=out_fmt, kind=ds.kind, extra=extra))
    return QuarantineResult(str(out), counts)


def _build_rejections(session: Session, t: str, parts: list[str]) -> None:
    con = session.con
    spec = schema.table(t)
    keys = ", ".join(q(k) for k in spec.primary_key)
    if not parts:
        relation = session.sources.by_table[t].relation
        parts = [
            f"SELECT __file, __row, {keys}, CAST([] AS VARCHAR[]) AS rule_ids, '' AS reason, TRUE AS own "
            f"FROM {relation} WHERE FALSE"
        ]
    anyk = ", ".join(f"any_value({q(k)}) AS {q(k)}" for k in spec.primary_key)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __rej_{t} AS SELECT __file, __row, {anyk}, "
        f"flatten(list(rule_ids)) AS rule_ids, string_agg(reason, '; ') AS reason, bool_or(own) AS own "
        f"FROM ({' UNION ALL '.join(parts)}) GROUP BY __file, __row"
    )
    if len(spec.primary_key) == 1:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __rejkeys_{t} AS SELECT DISTINCT {q(spec.primary_key[0])} AS __k "
            f"FROM __rej_{t} WHERE {q(spec.primary_key[0])} IS NOT NULL"
        )


def _write_clean(session: Session, t: str, tmp: Path, fmt: FileFormat, records: list[FileRecord]) -> int:
    """Write the passing rows of table ``t``; return how many."""
    con = session.con
    src = session.sources.by_table[t]
    spec = schema.table(t)
    rejected: dict[str, np.ndarray] = {}
    for file, rows in con.execute(
        f"SELECT __file, list(__row ORDER BY __row) FROM __rej_{t} GROUP BY __file"
    ).fetchall():
        rejected[session.sources.relpath(file)] = np.asarray(rows, dtype=np.int64)
    total = 0
    known = {f["path"]: f for f in session.ds.manifest["files"]}
    if src.kind == "duckdb":
        rows = rejected.get(src.files[0], np.zeros(0, np.int64))
        con.register("__rejrows", pa.table({"r": pa.array(rows, pa.int64())}))
        try:
            tbl = con.sql(
                f"SELECT {', '.join(q(c) for c in spec.column_names)} FROM {src.relation} "
                f"WHERE __row NOT IN (SELECT r FROM __rejrows) ORDER BY __row"
            ).to_arrow_table()
        finally:
            con.unregister("__rejrows")
        tbl = tbl.cast(_nullable_schema(spec, tbl))
        records.append(write_table(tbl, tmp, f"{t}/part-00000.parquet", t, "parquet"))
        return tbl.num_rows
    for rel in src.files:
        path = session.ds.path / rel
        rows = rejected.get(rel)
        if rows is None and src.kind == "parquet":  # untouched: same bytes, same record
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            f = known[rel]
            records.append(FileRecord(rel, t, f["rows"], f["bytes"], f["sha256"]))
            total += f["rows"]
            continue
        if src.kind == "parquet":
            tbl = pq.read_table(path)
            mask = np.ones(tbl.num_rows, bool)
            mask[rows] = False
            tbl = tbl.filter(pa.array(mask))
        else:  # CSV: the parsed rows of this file, minus the rejected ones
            tbl = con.sql(
                f"SELECT {', '.join(q(c) for c in spec.column_names)} FROM {src.relation} WHERE __file = ? "
                f"AND NOT list_contains(?, __row) ORDER BY __row",
                params=[rel, (rows if rows is not None else np.zeros(0, np.int64)).tolist()],
            ).to_arrow_table()
            tbl = tbl.cast(_nullable_schema(spec, tbl))
        records.append(write_table(tbl, tmp, rel, t, fmt))
        total += tbl.num_rows
    return total


def _write_quarantined(session: Session, t: str, tmp: Path) -> dict[str, Any]:
    spec = schema.table(t)
    src = session.sources.by_table[t]
    cols = ", ".join(f"s.{q(c)}" for c in spec.column_names)
    tbl = session.con.sql(
        f"SELECT {cols}, {session.sources.relpath_sql('s.__file')} AS _source_file, s.__row + 1 AS _source_row, "
        f"j.rule_ids AS _rule_ids, j.reason AS _reason, NOT j.own AS _followed "
        f"FROM {src.relation} s JOIN __rej_{t} j ON j.__file = s.__file AND j.__row = s.__row "
        f"ORDER BY _source_file, _source_row"
    ).to_arrow_table()
    rel = f"quarantine/{t}.parquet"
    target = tmp / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(tbl, target, compression="zstd")
    return {"path": rel, "rows": tbl.num_rows, "sha256": sha256_file(target)}
