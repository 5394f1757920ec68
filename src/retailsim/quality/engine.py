"""Run the rule registry over a dataset in DuckDB: one pass per table.

How a run works (see ``docs/quality.md`` for the measurements behind it):

1. Every data table becomes a relation ``__src_<table>`` with row identity (:mod:`.sources`).
2. Key sets are computed once: duplicated primary / unique keys per table (for a composite key ending in a
   small integer, such as ``(txn_id, line_no)``, one ``GROUP BY txn_id`` with a bitmap of line numbers proves
   uniqueness and also yields the header-vs-lines sums), and duplicated transactions.
3. Each table is checked in **one SELECT**: its relation, left-joined to the lookups its rules read (parents
   by foreign key, the line sums, the key sets), computes every rule predicate as a boolean column and keeps
   only rows where one is TRUE, in a temporary table ``__fail_<table>``. Per-rule counts, samples, findings
   and the quarantine all come from those (small) tables.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from retailsim import schema
from retailsim.errors import ConfigError, DatasetError
from retailsim.quality.config import QualityConfig
from retailsim.quality.report import (
    FINDINGS_SCHEMA,
    QualityReport,
    RuleResult,
    TableResult,
    jsonable,
)
from retailsim.quality.rules import Rule, fk_alias, has_city, lit, q, registry, resolve_as_of
from retailsim.quality.sources import Sources
from retailsim.storage.dataset import Dataset

if TYPE_CHECKING:
    from retailsim.quality.report import QuarantineResult

ProgressFn = Callable[[str], None]

#: Aggregates of a transaction's lines (the ``lines`` lookup), with the lookups of the lines they read.
LINE_AGGREGATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "lines__n": ("count(*)", ()),
    "lines__items": ("CAST(sum(quantity) AS BIGINT)", ()),
    "lines__discount": ("sum(discount_amount)", ()),
    "lines__amount": ("sum(line_amount)", ()),
    "lines__signature": ("bit_xor(hash(product_id, quantity, unit_price))", ()),
    "lines__max_launch_date": ("max(product__launch_date)", ("product",)),
    "lines__max_promo_start": ("max(promotion__start_date)", ("promotion",)),
    "lines__min_promo_end": ("min(promotion__end_date)", ("promotion",)),
    "lines__min_promo_store": ("min(promotion__store_id)", ("promotion",)),
    "lines__max_promo_store": ("max(promotion__store_id)", ("promotion",)),
}
BITMAP_MAX = 63  # line numbers 0..63 fit one UBIGINT bitmap
# a group whose bitmap has fewer bits than rows may repeat a value (or hold one outside 0..63, or NULL)
SUSPICIOUS = "bit_count(coalesce(__bits, 0::UBIGINT)) <> __n"
LINES, TXNS = "transaction_lines", "transactions"
TXN_FK_RULE = "transaction_lines.txn_id.fk"


def row_key_sql(spec: schema.TableSpec, prefix: str = "") -> str:
    """``'k1|k2'`` text of a row's primary key (the ``row_key`` of findings and of the defect truth)."""
    parts = [f"coalesce(CAST({prefix}{q(k)} AS VARCHAR), '∅')" for k in spec.primary_key]
    return parts[0] if len(parts) == 1 else "concat_ws('|', " + ", ".join(parts) + ")"


def _bundled_cities() -> Path:
    return Path(str(resources.files("retailsim.generate") / "data" / "cities.csv"))


def _mentions(texts: Sequence[str], name: str) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", t) for t in texts)


class Session:
    """A DuckDB connection holding one dataset's relations, key sets and check results."""

    def __init__(self, ds: Dataset, config: QualityConfig) -> None:
        self.ds = ds
        self.config = config
        self._tmp: Path | None = None
        if config.temp_directory is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="retailsim-dq-"))
        settings: dict[str, Any] = {
            "memory_limit": config.memory_limit,
            "temp_directory": str(config.temp_directory or self._tmp),
            "preserve_insertion_order": False,
        }
        if config.threads:
            settings["threads"] = config.threads
        try:
            self.con = duckdb.connect(config=settings)
        except duckdb.Error as err:
            raise ConfigError(f"invalid DuckDB settings (memory_limit / threads): {err}") from None
        self.sources = Sources(ds, self.con)
        self.dups: dict[tuple[str, str], int] = {}  # (table, alias) -> duplicated keys
        self.created: set[str] = set()
        self.unit_texts: list[str] = []  # SQL the line aggregates must serve (rules, witnesses)
        self.unit_fold: list[Rule] = []  # line rules whose failure on some line the aggregate records
        self.restrict: dict[str, str] = {}  # table -> relation replacing its source in a pinpoint pass
        self.full_lines = False  # join transactions FULL OUTER to their lines' aggregate (finds orphans)

    def close(self) -> None:
        self.con.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ helpers
    def src(self, table: str) -> str:
        return self.restrict.get(table) or self.sources.by_table[table].relation

    def has(self, table: str) -> bool:
        return table in self.sources.by_table

    def count(self, sql: str) -> int:
        return int(self.con.execute(sql).fetchall()[0][0])

    def run(self, sql: str) -> None:
        self.con.execute(sql)

    # ------------------------------------------------------------------ key sets
    def key_set(self, table: str, alias: str, cols: tuple[str, ...]) -> None:
        """``__dup_<table>_<alias>``: keys of ``cols`` held by more than one row, with copies and files."""
        name = f"__dup_{table}_{alias}"
        if name in self.created:
            return
        src = self.sources.by_table[table].relation
        spec = schema.table(table)
        not_null = " AND ".join(f"{q(c)} IS NOT NULL" for c in cols)
        keys = ", ".join(f"{q(c)} AS __k{i + 1}" for i, c in enumerate(cols))
        last = spec.column(cols[-1])
        if len(cols) > 1 and pa.types.is_integer(last.type):
            # (head…, small int): the per-head bitmap proves uniqueness; only suspicious heads are grouped
            grp = self.group_stats(table, cols[:-1], cols[-1])
            on = " AND ".join(f"s.{q(c)} = g.__k{i + 1}" for i, c in enumerate(cols[:-1]))
            dupkeys = (
                f"SELECT {keys}, count(*) AS __copies FROM {src} s SEMI JOIN (SELECT * FROM {grp} "
                f"WHERE {SUSPICIOUS}) g ON {on} "
                f"WHERE {not_null} GROUP BY ALL HAVING count(*) > 1"
            )
        else:
            dupkeys = f"SELECT {keys}, count(*) AS __copies FROM {src} WHERE {not_null} GROUP BY ALL HAVING count(*) > 1"
        self.run(f"CREATE OR REPLACE TEMP TABLE {name}__keys AS {dupkeys}")
        n = self.count(f"SELECT count(*) FROM {name}__keys")
        kcols = ", ".join(f"d.__k{i + 1}" for i in range(len(cols)))
        on = " AND ".join(f"s.{q(c)} = d.__k{i + 1}" for i, c in enumerate(cols))
        files = self.sources.relpath_sql("s.__file")
        body = (
            f"SELECT {kcols}, any_value(d.__copies) AS {alias}__copies, "
            f"list(DISTINCT {files} ORDER BY {files}) AS {alias}__files "
            f"FROM {name}__keys d JOIN {src} s ON {on} GROUP BY ALL"
        )
        if n == 0:
            body = f"SELECT {kcols}, d.__copies AS {alias}__copies, CAST([] AS VARCHAR[]) AS {alias}__files FROM {name}__keys d"
        self.run(f"CREATE OR REPLACE TEMP TABLE {name} AS {body}")
        self.run(f"DROP TABLE {name}__keys")
        self.created.add(name)
        self.dups[(table, alias)] = n

    def group_stats(self, table: str, head: tuple[str, ...], last: str) -> str:
        """One ``GROUP BY head`` over ``table``: a bitmap of ``last`` (uniqueness proof) and, for the lines of
        a transaction, the line aggregates and whether one of its lines fails a folded rule."""
        name = f"__grp_{table}"
        if name in self.created:
            return name
        keys = ", ".join(f"r.{q(c)} AS __k{i + 1}" for i, c in enumerate(head))
        b = f"r.{q(last)}"
        # a bitmap of the values 0..63: as many bits as rows proves the values distinct
        aggs = [
            "count(*) AS __n",
            f"bit_or(CASE WHEN {b} BETWEEN 0 AND {BITMAP_MAX} THEN 1::UBIGINT << CAST({b} AS UBIGINT) END) AS __bits",
        ]
        joins = ""
        if table == LINES and head == ("txn_id",):
            wanted = [a for a in LINE_AGGREGATES if _mentions(self.unit_texts, a) or a == "lines__n"]
            aggs += [f"{LINE_AGGREGATES[a][0]} AS {a}" for a in wanted]
            # "one of its lines fails a rule that needs no transaction": bool_or skips NULL, like IS TRUE
            folded = " OR ".join(f"({r.sql})" for r in self.unit_fold) or "FALSE"
            aggs.append(f"coalesce(bool_or({folded}), FALSE) AS __bad")
            texts = [LINE_AGGREGATES[a][0] for a in wanted] + [r.sql for r in self.unit_fold]
            aliases = dict.fromkeys(
                [x for a in wanted for x in LINE_AGGREGATES[a][1]]
                + [x for r in self.unit_fold for x in r.lookups]
            )
            joins = " ".join(self.lookup(table, alias, texts)[0] for alias in aliases)
        self.run(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {keys}, {', '.join(aggs)} "
            f"FROM {self.sources.by_table[table].relation} AS r {joins} GROUP BY ALL"
        )
        self.created.add(name)
        return name

    def duplicate_transactions(self) -> None:
        """``__dupcontent``: transactions repeating an earlier one's customer, store, time and lines."""
        if "__dupcontent" in self.created:
            return
        lines = self.group_stats(LINES, ("txn_id",), "line_no")
        t = self.sources.by_table[TXNS].relation
        self.run(f"""
            CREATE OR REPLACE TEMP TABLE __dupcontent AS
            WITH cand AS (
                SELECT hash(customer_id, store_id, txn_ts) AS h FROM {t}
                WHERE txn_ts IS NOT NULL AND txn_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1),
            x AS (
                SELECT DISTINCT s.txn_id, s.customer_id, s.store_id, s.txn_ts, g.lines__n, g.lines__signature
                FROM {t} s SEMI JOIN cand c ON c.h = hash(s.customer_id, s.store_id, s.txn_ts)
                LEFT JOIN {lines} g ON g.__k1 = s.txn_id
                WHERE s.txn_id IS NOT NULL AND s.txn_ts IS NOT NULL),
            y AS (
                SELECT txn_id, min(txn_id) OVER (
                    PARTITION BY customer_id, store_id, txn_ts, lines__n, lines__signature) AS first
                FROM x)
            SELECT txn_id AS __k1, first AS dupcontent__first FROM y WHERE txn_id <> first""")
        self.created.add("__dupcontent")

    def reference_cities(self) -> None:
        if "__ref_cities" in self.created:
            return
        path = self.config.reference_cities or _bundled_cities()
        if not Path(path).is_file():
            raise ConfigError(f"reference_cities file not found: {path}")
        try:
            self.run(f"""
                CREATE OR REPLACE TEMP TABLE __ref_cities AS
                SELECT country AS __k1, city AS __k2, list(DISTINCT region ORDER BY region) AS refcity__regions
                FROM read_csv({lit(str(path))}, header = true, all_varchar = true)
                GROUP BY ALL""")
        except duckdb.Error as err:
            raise ConfigError(
                f"reference_cities {path}: needs country, city, region columns ({err})"
            ) from None
        self.created.add("__ref_cities")

    # ------------------------------------------------------------------ lookups
    def lookup(self, table: str, alias: str, texts: Sequence[str]) -> tuple[str, list[str]]:
        """``LEFT JOIN`` clause of lookup ``alias`` for rows ``r`` of ``table``, and the columns it exposes.

        ``texts`` are the SQL expressions to serve: the parent columns they mention are fetched."""
        spec = schema.table(table)
        if alias == "pk" or alias.startswith("dup_"):
            cols = spec.primary_key if alias == "pk" else (alias[4:],)
            self.key_set(table, alias, cols)
            on = " AND ".join(f"{alias}.__k{i + 1} = r.{q(c)}" for i, c in enumerate(cols))
            return f"LEFT JOIN __dup_{table}_{alias} AS {alias} ON {on}", [
                f"{alias}__copies",
                f"{alias}__files",
            ]
        if alias == "lines":
            grp = self.group_stats(LINES, ("txn_id",), "line_no")
            self.key_set(LINES, "pk", ("txn_id", "line_no"))
            names = [a for a in LINE_AGGREGATES if _mentions(self.unit_texts, a) or a == "lines__n"]
            sub = (
                f"(SELECT g.__k1, g.__k1 AS lines__txn_id, {', '.join('g.' + n for n in names)}, "
                f"d.__k1 IS NOT NULL AS lines__dupkeys FROM {grp} g "
                f"LEFT JOIN (SELECT DISTINCT __k1 FROM __dup_{LINES}_pk) d ON d.__k1 = g.__k1)"
            )
            # FULL: a unit of lines without a header comes out as a row with r.* NULL (the lines' orphans)
            join = "FULL OUTER JOIN" if self.full_lines else "LEFT JOIN"
            return f"{join} {sub} AS lines ON lines.__k1 = r.txn_id", [
                *names,
                "lines__dupkeys",
                "lines__txn_id",
            ]
        if alias == "dupcontent":
            self.duplicate_transactions()
            return "LEFT JOIN __dupcontent AS dupcontent ON dupcontent.__k1 = r.txn_id", ["dupcontent__first"]
        if alias == "refcity" and has_city(spec):
            self.reference_cities()
            return (
                "LEFT JOIN __ref_cities AS refcity ON refcity.__k1 = r.country AND refcity.__k2 = r.city",
                ["refcity__regions"],
            )
        for fk in spec.foreign_keys:
            if fk_alias(fk) != alias:
                continue
            parent = schema.table(fk.ref_table)
            rx = re.compile(rf"\b{re.escape(alias)}__([A-Za-z0-9_]+)")
            attrs = sorted({m for t in texts for m in rx.findall(t) if m != "found"})
            for a in attrs:
                if a not in parent.column_index:
                    raise ConfigError(
                        f"{alias}__{a}: {fk.ref_table} has no column {a!r} (rules of table {table})"
                    )
            if parent.primary_key == fk.ref_columns:
                self.key_set(fk.ref_table, "pk", parent.primary_key)
            dup = self.dups.get((fk.ref_table, "pk"), 1) > 0
            keys = ", ".join(f"{q(c)} AS __k{i + 1}" for i, c in enumerate(fk.ref_columns))
            not_null = " AND ".join(f"{q(c)} IS NOT NULL" for c in fk.ref_columns)
            if dup:  # duplicated parent keys: one lookup row per key, so children are never multiplied
                vals = "".join(f", min({q(a)}) AS {alias}__{a}" for a in attrs)
                sub = f"(SELECT {keys}, TRUE AS {alias}__found{vals} FROM {self.src(fk.ref_table)} WHERE {not_null} GROUP BY ALL)"
            else:
                vals = "".join(f", {q(a)} AS {alias}__{a}" for a in attrs)
                sub = f"(SELECT {keys}, TRUE AS {alias}__found{vals} FROM {self.src(fk.ref_table)} WHERE {not_null})"
            on = " AND ".join(f"{alias}.__k{i + 1} = r.{q(c)}" for i, c in enumerate(fk.columns))
            return f"LEFT JOIN {sub} AS {alias} ON {on}", [
                f"{alias}__found",
                *(f"{alias}__{a}" for a in attrs),
            ]
        raise ConfigError(f"table {table} has no lookup {alias!r}")

    # ------------------------------------------------------------------ checks
    def check_sql(
        self, table: str, rules: Sequence[Rule], *, limit0: bool = False, extra: Sequence[str] = ()
    ) -> str:
        """SELECT of the rows of ``table`` failing a rule (flags ``__f<i>``); ``extra`` boolean expressions
        (``__x<j>``) keep a row too without counting as a failure."""
        texts = [r.sql for r in rules] + [r.detail for r in rules] + list(extra)
        joins, exposed = [], []
        aliases = dict.fromkeys(a for r in rules for a in r.lookups)
        if extra and table == TXNS:
            aliases.setdefault("lines", None)
        for alias in aliases:
            j, cols = self.lookup(table, alias, texts)
            joins.append(j)
            exposed += cols
        flags = [f"(({r.sql}) IS TRUE) AS __f{i}" for i, r in enumerate(rules)]
        flags += [f"(({x}) IS TRUE) AS __x{j}" for j, x in enumerate(extra)]
        inner = (
            f"SELECT r.*{''.join(', ' + c for c in exposed)}, {', '.join(flags)} "
            f"FROM {self.src(table)} AS r {' '.join(joins)}"
        )
        if limit0:
            return inner + " LIMIT 0"
        # the filter uses the bare predicates (a NULL does not keep a row, like IS TRUE) so the flags are
        # computed only for the rows kept
        keep = [f"({r.sql})" for r in rules] + [f"({x})" for x in extra]
        return f"{inner} WHERE {' OR '.join(keep) or 'FALSE'}"

    def check_table(self, table: str, rules: Sequence[Rule], extra: Sequence[str] = ()) -> list[int]:
        """Create ``__fail_<table>`` (failing rows with one flag column per rule); return failures per rule."""
        name = f"__fail_{table}"
        sql = self.check_sql(table, rules, extra=extra)
        if extra:  # rows kept for an extra flag go to __keep_<table>; failures (of real rows) to __fail_
            anyf = " OR ".join(f"__f{i}" for i in range(len(rules))) or "FALSE"
            self.run(f"CREATE OR REPLACE TEMP TABLE __keep_{table} AS {sql}")
            self.run(
                f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM __keep_{table} "
                f"WHERE __row IS NOT NULL AND ({anyf})"
            )
        else:
            self.run(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        self.created.add(name)
        if not rules:
            return []
        counts = ", ".join(f"count(*) FILTER (WHERE __f{i})" for i in range(len(rules)))
        return [int(v) for v in self.con.execute(f"SELECT {counts} FROM {name}").fetchall()[0]]

    def check_headers_and_lines(
        self, txn_rules: list[Rule], line_rules: list[Rule]
    ) -> tuple[list[int], list[int]]:
        """Transactions and their lines without joining every line to its header.

        One aggregate per transaction over its lines (sums, line-number bitmap, "a folded rule fails on a
        line", the ``lines__…`` witnesses' inputs) feeds the transactions pass; lines are then checked in
        full only for the transactions that a witness, a folded rule, a key bitmap or a missing header
        flags (none on clean data)."""
        witnessed = [r for r in line_rules if "txn" in r.lookups and r.id != TXN_FK_RULE]
        grp = self.group_stats(LINES, ("txn_id",), "line_no")
        self.key_set(LINES, "pk", ("txn_id", "line_no"))
        witnesses = [r.witness or "FALSE" for r in witnessed] + ["__row IS NULL"]  # + headerless lines
        self.full_lines = True
        try:
            txn_counts = self.check_table(TXNS, txn_rules, extra=witnesses)
        finally:
            self.full_lines = False
        anyx = " OR ".join(f"__x{j}" for j in range(len(witnesses)))
        flagged = [
            f"SELECT __k1 AS txn_id FROM {grp} WHERE __bad OR {SUSPICIOUS}",
            f"SELECT coalesce(txn_id, lines__txn_id) FROM __keep_{TXNS} WHERE {anyx}",
        ]
        self.run(
            f"CREATE OR REPLACE TEMP TABLE __flagged AS SELECT DISTINCT txn_id FROM ({' UNION ALL '.join(flagged)})"
        )
        n_flagged = self.count("SELECT count(*) FROM __flagged")
        lines_src = self.sources.by_table[LINES].relation
        txn_src = self.sources.by_table[TXNS].relation
        if n_flagged:
            self.restrict[LINES] = (
                f"(SELECT * FROM {lines_src} WHERE txn_id IN (SELECT txn_id FROM __flagged) OR txn_id IS NULL)"
            )
            self.restrict[TXNS] = f"(SELECT * FROM {txn_src} WHERE txn_id IN (SELECT txn_id FROM __flagged))"
        else:
            self.restrict[LINES] = f"(SELECT * FROM {lines_src} WHERE FALSE)"
            self.restrict[TXNS] = f"(SELECT * FROM {txn_src} WHERE FALSE)"
        try:
            line_counts = self.check_table(LINES, line_rules)
        finally:
            self.restrict.clear()
        return txn_counts, line_counts

    def samples(self, table: str, i: int, rule: Rule, k: int) -> list[dict[str, Any]]:
        spec = schema.table(table)
        cols = ", ".join(q(c) for c in spec.column_names)
        rows = self.con.sql(
            f"SELECT {row_key_sql(spec)} AS __key, {self.sources.relpath_sql()} AS __relfile, __row, "
            f"CAST(({rule.detail}) AS VARCHAR) AS __detail, {cols} FROM __fail_{table} WHERE __f{i} "
            f"ORDER BY __file, __row LIMIT {k}"
        ).to_arrow_table()
        out = []
        for rec in rows.to_pylist():
            out.append(
                {
                    "row_key": rec.pop("__key"),
                    "file": rec.pop("__relfile"),
                    "row": int(rec.pop("__row")) + 1,
                    "detail": rec.pop("__detail"),
                    "values": jsonable(rec),
                }
            )
        return out

    def findings(self, table: str, rules: Sequence[Rule]) -> pa.Table:
        spec = schema.table(table)
        ids = ", ".join(f"CASE WHEN __f{i} THEN {lit(r.id)} END" for i, r in enumerate(rules))
        sev = ", ".join(f"CASE WHEN __f{i} THEN {lit(r.severity)} END" for i, r in enumerate(rules))
        sql = f"""
            SELECT {lit(table)} AS table_name, {row_key_sql(spec)} AS row_key,
                   unnest([x FOR x IN [{ids}] IF x IS NOT NULL]) AS rule_id,
                   unnest([x FOR x IN [{sev}] IF x IS NOT NULL]) AS severity,
                   {self.sources.relpath_sql()} AS file, __row + 1 AS row
            FROM __fail_{table} ORDER BY file, row, rule_id"""
        return self.con.sql(sql).to_arrow_table().cast(FINDINGS_SCHEMA)

    def reason_sql(self, rules: Sequence[Rule], keep: Callable[[Rule], bool]) -> tuple[str, str]:
        """(rule id list, readable reason) SQL over a ``__fail_`` table, for the rules ``keep`` accepts."""
        sel = [(i, r) for i, r in enumerate(rules) if keep(r)]
        if not sel:
            return "CAST([] AS VARCHAR[])", "''"
        ids = (
            "[x FOR x IN ["
            + ", ".join(f"CASE WHEN __f{i} THEN {lit(r.id)} END" for i, r in sel)
            + "] IF x IS NOT NULL]"
        )
        reasons = ", ".join(
            f"CASE WHEN __f{i} THEN {lit(r.id + ': ' + r.description.rstrip('.'))} || ' (' || "
            f"coalesce(CAST(({r.detail}) AS VARCHAR), '') || ')' END"
            for i, r in sel
        )
        return ids, f"concat_ws('; ', {reasons})"


# --------------------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------------------


def skip_reason(rule: Rule, ds: Dataset, session: Session) -> str | None:
    """Why ``rule`` cannot run on ``ds`` (a table or column the dataset does not have), else None."""
    missing = [t for t in rule.tables if not session.has(t)]
    if missing:
        return f"table {', '.join(missing)} not in the dataset"
    absent = [c for c in rule.columns if c.split(".", 1)[1] in ds.absent_columns(c.split(".", 1)[0])]
    if absent:
        return f"column {', '.join(absent)} absent from the dataset"
    if rule.category == "parse" and session.sources.by_table[rule.table].kind not in ("csv", "records"):
        return "typed storage: cells cannot be unparseable"
    return None


def run_validation(
    dataset: Dataset | str | Path,
    config: QualityConfig | None = None,
    rules: Sequence[Rule] | None = None,
    *,
    user_rules: Sequence[Rule] | str | Path | None = None,
    quarantine_to: str | Path | None = None,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
) -> QualityReport:
    """Run every rule over a dataset; optionally write a clean dataset and the quarantined rows.

    Parameters
    ----------
    dataset
        A :class:`~retailsim.storage.dataset.Dataset` or its folder (Parquet, CSV or DuckDB; generated or
        imported).
    config
        Limits, tolerances and DuckDB resources (default :class:`QualityConfig`).
    rules
        The rules to run (default: :func:`~retailsim.quality.rules.registry` of the dataset plus
        ``user_rules``).
    user_rules
        Extra rules or a YAML rules file, added to the default registry.
    quarantine_to
        Folder for the clean dataset (passing rows, same layout; Parquet for a DuckDB source) with
        ``quarantine/<table>.parquet`` holding every rejected row, its rule ids and reason. Rows depending on
        a rejected row (its lines, a customer's transactions) follow it.
    overwrite
        Replace ``quarantine_to`` if it exists.
    on_progress
        Called with a short text before each step.

    Returns
    -------
    QualityReport
        Per-rule outcomes, table counts, findings (and quarantine counts).

    Raises
    ------
    DatasetError
        The dataset cannot be checked: missing folder or files, unreadable Parquet/CSV, schema mismatch.
    ConfigError
        A user rule does not compile.
    """
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    config = config or QualityConfig()
    rules = list(rules) if rules is not None else registry(ds, config, user_rules)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    note = on_progress or (lambda _s: None)
    session = Session(ds, config)
    try:
        data_tables = [s.name for s in schema.DATA_TABLES if ds.has(s.name)]
        note("opening tables")
        session.sources.open(data_tables)
        results: dict[str, RuleResult] = {}
        active: dict[str, list[Rule]] = {}
        for r in rules:
            why = skip_reason(r, ds, session)
            if why:
                results[r.id] = RuleResult(r, "skipped", skip_reason=why)
            else:
                active.setdefault(r.table, []).append(r)
        _check_user_rules(session, active)
        findings: list[pa.Table] = []
        tables: dict[str, TableResult] = {}
        for t in data_tables:
            src = session.sources.by_table[t]
            tables[t] = TableResult(t, src.rows, files=len(src.files))
        counts: dict[str, list[int]] = {}
        paired = _paired(session, active)
        every = [x for rs in active.values() for r in rs for x in (r.sql, r.detail, r.witness or "")]
        if (
            paired
        ):  # line rules needing no transaction are evaluated once, inside the per-transaction aggregate
            session.unit_fold = [r for r in active[LINES] if "txn" not in r.lookups and "pk" not in r.lookups]
        if any("dupcontent" in r.lookups for rs in active.values() for r in rs):
            every.append("lines__signature")  # duplicate transactions compare their lines' signature
        session.unit_texts = every
        for spec in schema.DATA_TABLES:
            t = spec.name
            if t not in active or (paired and t in (TXNS, LINES)):
                continue
            note(f"checking {t}")
            counts[t] = _guard(t, lambda t=t: session.check_table(t, active[t]))
        if paired:
            note("checking transactions and their lines")
            counts[TXNS], counts[LINES] = _guard(
                "transactions",
                lambda: session.check_headers_and_lines(active.get(TXNS, []), active.get(LINES, [])),
            )
        for t, n_fail in counts.items():
            for i, (r, n) in enumerate(zip(active.get(t, []), n_fail, strict=True)):
                res = RuleResult(r, "failed" if n else "passed", rows_checked=tables[t].rows, failed=n)
                if n and config.sample_rows:
                    res.samples = session.samples(t, i, r, config.sample_rows)
                results[r.id] = res
            tables[t].failing_rows = session.count(f"SELECT count(*) FROM __fail_{t}")
            if active.get(t):
                findings.append(session.findings(t, active[t]))
        quarantine: QuarantineResult | None = None
        if quarantine_to is not None:
            from retailsim.quality.quarantine import write_quarantine

            note("writing the clean dataset and the quarantine")
            quarantine = write_quarantine(session, active, Path(quarantine_to), overwrite=overwrite)
    finally:
        session.close()
    report = QualityReport(
        dataset={
            "path": str(ds.path),
            "format": ds.format,
            "kind": ds.kind,
            "seed": ds.manifest.get("seed"),
            "rows": {t: r.rows for t, r in tables.items()},
        },
        as_of=resolve_as_of(ds, config),
        started_at=started,
        elapsed_s=time.perf_counter() - t0,
        config=config.model_dump(mode="json"),
        results=[results[r.id] for r in rules],
        tables=tables,
        findings=pa.concat_tables(findings) if findings else FINDINGS_SCHEMA.empty_table(),
        quarantine=quarantine,
    )
    return report


def _paired(session: Session, active: dict[str, list[Rule]]) -> bool:
    """Whether transactions and lines can be checked as units (both present; every line rule that reads its
    transaction has a witness)."""
    if not (session.has(TXNS) and session.has(LINES)) or LINES not in active:
        return False
    return all(r.witness or r.id == TXN_FK_RULE for r in active[LINES] if "txn" in r.lookups)


def _guard(table: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except duckdb.Error as err:
        raise DatasetError(f"could not check {table}: {err}") from None


def _check_user_rules(session: Session, active: dict[str, list[Rule]]) -> None:
    """Compile each user rule alone so a mistake names its rule (exit code 2), not a whole table."""
    for table, rules in active.items():
        for r in rules:
            if r.category != "user":
                continue
            try:
                session.con.execute(session.check_sql(table, [r], limit0=True))
                session.con.execute(
                    f"SELECT CAST(({r.detail}) AS VARCHAR) FROM ({session.check_sql(table, [r], limit0=True)})"
                )
            except duckdb.Error as err:
                raise ConfigError(f"user rule {r.id!r} ({r.source}) does not compile: {err}") from None
